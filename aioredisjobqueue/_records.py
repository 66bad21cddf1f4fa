"""What the queue's inspecting calls return: counts, waiting jobs, dead letters."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["DeadLetter", "QueueStats", "WaitingJob"]


@dataclass(frozen=True, slots=True)
class QueueStats:
    """How many jobs a queue holds, by state, by the Redis server's clock.

    ``ready``: due now (waiting, or locked with an expired lock); ``locked``: held under a
    live lock; ``delayed``: waiting for a later time; ``dead``: dead-lettered.
    """

    ready: int
    locked: int
    delayed: int
    dead: int

    @property
    def total(self) -> int:
        """Every job in the queue, dead ones included."""
        return self.ready + self.locked + self.delayed + self.dead


@dataclass(frozen=True, slots=True)
class WaitingJob:
    """A job waiting in the queue, as ``peek()`` shows it.

    ``due_at`` is the Redis server's Unix time, in seconds, from which it may be taken.
    ``payload`` is the JSON value stored, on a typed queue too (inspecting never fails on a
    payload the queue's codec refuses): ``queue.codec.from_json(payload)`` reads it.
    """

    id: str
    payload: Any
    due_at: float


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A job moved to the dead letters after ``deliveries`` deliveries without completion.

    ``died_at`` is the Redis server's Unix time, in seconds, when it was moved there;
    ``error`` the last error it was released or dead-lettered with (None if none was given).
    ``payload`` is the JSON value stored, as in ``WaitingJob``.
    """

    id: str
    payload: Any
    deliveries: int
    died_at: float
    error: str | None = None
