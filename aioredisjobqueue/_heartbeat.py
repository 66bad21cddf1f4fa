"""Heartbeats: a Worker reports itself alive in each queue it serves.

Every ``interval`` seconds the worker writes its entry (``beat.lua``): its id, host, pid,
start time, running handlers and counts by outcome. The entry expires ``3 * interval``
seconds after the last beat, so a worker that was killed drops out by itself; one that
stops cleanly removes its entries at once (``unbeat.lua``). ``queue.workers()`` lists the
live ones; ``aioredisjobqueue workers`` and ``health --queue`` read them.
"""

from __future__ import annotations

import json
import logging
import os
import secrets
import socket
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

import anyio

from ._transient import CAUGHT, is_transient

if TYPE_CHECKING:
    from ._queue import RedisJobQueue

__all__ = ["BEATS_PER_TTL", "Heartbeat", "WorkerInfo"]

logger = logging.getLogger("aioredisjobqueue")

# An entry lives this many beat intervals: a beat or two may be late without the worker
# looking dead.
BEATS_PER_TTL = 3
# How long a stopping worker tries to remove its entries (seconds); else they expire.
_REMOVE_WITHIN = 2.0


@dataclass(frozen=True, slots=True)
class WorkerInfo:
    """A live worker, as it last reported itself in a queue (see ``queue.workers()``).

    ``id`` is unique to one run of a ``Worker``; ``host`` and ``pid`` say where it runs;
    ``started_at`` is when it started (Unix time in seconds, by the worker's clock).
    ``queues`` are every queue it serves, ``concurrency`` how many handlers it runs at
    most, ``running`` how many ran at its last beat. ``counts`` are its events so far by
    kind (``"start"``, ``"complete"``, ``"retry"``, ``"dead"``, ``"lock_lost"``,
    ``"stopped"``, as ``Worker.counts``). ``stopping`` is true once it was told to stop.
    ``beat_at`` and ``expires_at`` are Unix times in seconds by the Redis server's clock:
    its last beat, and when its entry expires unless it beats again.
    """

    id: str
    host: str
    pid: int
    started_at: float
    queues: tuple[str, ...]
    concurrency: int
    running: int
    counts: Mapping[str, int] = field(hash=False)
    stopping: bool
    beat_at: float
    expires_at: float

    @classmethod
    def _from_fields(cls, worker_id: str, fields: Mapping[str, str]) -> WorkerInfo:
        """The worker as ``beat.lua`` stored it (fields a worker did not write are zero)."""

        def number(name: str) -> float:
            return float(fields.get(name) or 0)

        return cls(
            id=worker_id,
            host=fields.get("host", ""),
            pid=int(number("pid")),
            started_at=number("started_at"),
            queues=tuple(json.loads(fields.get("queues") or "[]")),
            concurrency=int(number("concurrency")),
            running=int(number("running")),
            counts={str(k): int(v) for k, v in json.loads(fields.get("counts") or "{}").items()},
            stopping=fields.get("stopping") == "1",
            beat_at=number("beat_at") / 1_000_000,
            expires_at=number("expires_at") / 1_000_000,
        )


class Reporter(Protocol):
    """What a heartbeat reports of its worker (a ``Worker`` is one)."""

    @property
    def active(self) -> int: ...

    @property
    def counts(self) -> Mapping[str, int]: ...

    @property
    def stopping(self) -> bool: ...


class Heartbeat:
    """Beats every ``interval`` seconds in each of ``queues`` for ``worker``, from ``run()``
    (a task of the worker's task group) until cancelled; then removes the entries."""

    def __init__(
        self,
        queues: Sequence[RedisJobQueue],
        worker: Reporter,
        *,
        concurrency: int,
        interval: float,
    ) -> None:
        self.id = secrets.token_hex(8)
        self.interval = interval
        self.ttl = interval * BEATS_PER_TTL
        self._queues = tuple(queues)
        self._worker = worker
        self._static = {
            "host": socket.gethostname(),
            "pid": str(os.getpid()),
            "started_at": repr(time.time()),
            "queues": json.dumps([q.name for q in self._queues]),
            "concurrency": str(concurrency),
        }
        self._failing = False
        # time.monotonic() of the last turn of the beat loop, beat or not: the event loop
        # and the worker's task group are turning (liveness)
        self.last_tick = time.monotonic()

    def alive(self) -> bool:
        """True while the beat loop turned within the entry's time to live."""
        return time.monotonic() - self.last_tick < self.ttl

    def fields(self) -> dict[str, str]:
        """The worker's entry as it stands now."""
        return self._static | {
            "running": str(self._worker.active),
            "counts": json.dumps(dict(self._worker.counts), sort_keys=True),
            "stopping": "1" if self._worker.stopping else "0",
        }

    async def run(self) -> None:
        """Beat until cancelled, then remove the entries (for at most 2 s)."""
        ttl_ms = max(1, round(self.ttl * 1000))
        try:
            while True:
                self.last_tick = time.monotonic()
                # a hung connection must not stop the ticks: a round of beats gets one interval
                with anyio.move_on_after(self.interval) as round_:
                    await self._beat(ttl_ms)
                if round_.cancelled_caught:
                    self._failed(TimeoutError(f"no answer within {self.interval:g} s"))
                await anyio.sleep(self.interval)
        finally:
            with anyio.CancelScope(shield=True), anyio.move_on_after(_REMOVE_WITHIN):
                for queue in self._queues:
                    try:
                        await queue._scripts.unbeat(self.id)
                    except CAUGHT:
                        break  # the entries expire by themselves

    async def _beat(self, ttl_ms: int) -> None:
        fields = self.fields()
        for queue in self._queues:
            try:
                await queue._scripts.beat(self.id, ttl_ms, fields)
            except CAUGHT as exc:
                if not is_transient(exc):
                    raise
                self._failed(exc)
                return
        if self._failing:
            logger.info(
                "worker %s: heartbeats reach Redis again", self.id, extra={"worker": self.id}
            )
            self._failing = False

    def _failed(self, exc: BaseException) -> None:
        if not self._failing:
            logger.warning(
                "worker %s: could not send its heartbeat, retrying: %r",
                self.id,
                exc,
                extra={"worker": self.id, "error": repr(exc)},
            )
        self._failing = True
