"""The job every library runs, and what the benchmark records about each execution.

Every handler, whatever its library, calls ``current().run(i, t)`` (or ``run_sync`` from a
synchronous worker). The body is ``noop`` (in-process bookkeeping only: the count, each job
index seen once) or ``incr`` (one Redis ``INCR`` of ``COUNTER_KEY`` on a client of its own,
too). The in-process count, and with ``incr`` the counter in Redis, must reach the number
of jobs queued, each job index seen once, or the run is reported FAILED.
"""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import redis
import redis.asyncio

__all__ = [
    "BODIES",
    "BODY_COMMAND",
    "COUNTER_KEY",
    "Recorder",
    "current",
    "install",
    "padded_kwargs",
]

COUNTER_KEY = "bench:executed"
# The command one job body sends: redis-py's ``incr()`` sends ``INCRBY key 1``.
BODY_COMMAND = "incrby"
# The job bodies one can choose: ``noop`` (the default) or one ``INCR``.
BODIES = ("noop", "incr")


class Recorder:
    """Counts executions and times them: first start, last end, pickup latencies."""

    def __init__(self, url: str, target: int, limit_s: float, body: str = "incr") -> None:
        if body not in BODIES:
            raise ValueError(f"body must be one of {BODIES}, got {body!r}")
        self.body = body
        self.url = url
        self.target = target
        self.limit_s = limit_s
        self.count = 0
        self.seen: set[int] = set()
        self.first_start: float | None = None
        self.last_end = 0.0
        self.latencies: dict[int, float] = {}
        self.done = asyncio.Event()
        self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url)
        self._sync_client: redis.Redis | None = None

    def _start(self, i: int, t: float | None) -> None:
        wall = time.time()
        if self.first_start is None:
            self.first_start = time.perf_counter()
        if t is not None:
            self.latencies[i] = wall - t

    def _end(self, i: int) -> None:
        self.last_end = time.perf_counter()
        self.count += 1
        self.seen.add(i)
        if self.count >= self.target:
            self.done.set()

    async def run(self, i: int, t: float | None = None) -> None:
        """The job: nothing, or one INCR. ``t``: the wall time the job was to be sent."""
        self._start(i, t)
        if self.body == "incr":
            await self._client.incr(COUNTER_KEY)
        self._end(i)

    def run_sync(self, i: int, t: float | None = None) -> None:
        """The same job for a synchronous worker."""
        self._start(i, t)
        if self.body == "incr":
            if self._sync_client is None:
                self._sync_client = redis.Redis.from_url(self.url)
            self._sync_client.incr(COUNTER_KEY)
        self._end(i)

    async def wait(self, worker: asyncio.Future[Any]) -> None:
        """Return once every job ran, the worker ended, or ``limit_s`` s passed.

        Raises what the worker raised if it ended first.
        """
        waiter = asyncio.create_task(self.done.wait())
        try:
            done, _ = await asyncio.wait(
                {worker, waiter}, timeout=self.limit_s, return_when=asyncio.FIRST_COMPLETED
            )
        finally:
            waiter.cancel()
        if worker in done and not self.done.is_set():
            worker.result()

    async def aclose(self) -> None:
        await self._client.aclose()
        if self._sync_client is not None:
            self._sync_client.close()


_current: Recorder | None = None


def install(recorder: Recorder) -> Recorder:
    """Make ``recorder`` the one every handler in this process reports to."""
    global _current
    _current = recorder
    return recorder


def current() -> Recorder:
    if _current is None:
        raise RuntimeError("no Recorder installed in this process")
    return _current


def padded_kwargs(i: int, size: int) -> dict[str, Any]:
    """Job arguments ``{"i": i, "pad": "x..."}`` whose compact JSON is ``size`` bytes."""
    bare = len(json.dumps({"i": i, "pad": ""}, separators=(",", ":")))
    return {"i": i, "pad": "x" * max(0, size - bare)}
