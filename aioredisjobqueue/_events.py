"""JobEvent: what happened to a job in a Worker, as its ``on_event`` hook receives it."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Literal

from ._job import Job

__all__ = ["DONE", "EventHook", "EventKind", "JobEvent"]

EventKind = Literal["start", "complete", "retry", "dead", "lock_lost", "stopped"]

# How run() sums up, at its end, what its jobs did
DONE = {
    "start": "started",
    "complete": "completed",
    "retry": "retried",
    "dead": "dead-lettered",
    "lock_lost": "lost to another consumer",
    "stopped": "given back on stop",
}


@dataclass(frozen=True, slots=True)
class JobEvent:
    """Something that happened to a job in a worker, as ``on_event`` receives it.

    ``kind``:

    - ``"start"``: the handler is about to run;
    - ``"complete"``: it returned and the job was completed;
    - ``"retry"``: it raised (or ran past ``timeout``) and the job waits ``retry_in``
      seconds before it is due again;
    - ``"dead"``: it raised on the job's last allowed delivery: the job is a dead letter;
    - ``"lock_lost"``: another consumer took the job (its lock had expired): the handler
      was cancelled, or its result could not be recorded;
    - ``"stopped"``: the worker stopped before the handler finished: the handler was
      cancelled and the job given back at once, its delivery not counted.

    ``duration`` is how long the handler ran, in seconds (None for ``"start"``);
    ``error`` the exception it raised (a ``TimeoutError`` for ``timeout``).
    """

    kind: EventKind
    job: Job
    duration: float | None = None
    error: BaseException | None = None
    retry_in: float | None = None


EventHook = Callable[[JobEvent], Awaitable[None] | None]
