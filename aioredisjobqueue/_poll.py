"""Poller: wait for due jobs and take them, for ``consume()`` and the Worker alike.

When nothing is due it tells the queue object's inbox that it is idle, so that new jobs
are handed off to it (``_inbox``), and sleeps until they are, or until the wake-up
subscription or the inbox says a job may be due. Without an inbox serving, a jittered
exponential backoff is the longest sleep; a transient failure (a dropped connection, a
Redis restart, a BUSY script, a failover: see ``_transient``) is waited out with the same
backoff, logged once; any other error is raised.
"""

from __future__ import annotations

import asyncio
import logging
import random
import time
from collections.abc import Awaitable, Callable, Sequence
from typing import TYPE_CHECKING

from ._backoff import backoff
from ._tasks import cancel_requested
from ._transient import CAUGHT, is_transient

if TYPE_CHECKING:
    from ._inbox import Inbox
    from ._job import Job
    from ._scripts import Delivery
    from ._wake import Waker

__all__ = ["Poller"]

logger = logging.getLogger("aioredisjobqueue")

# How long an idle consumer sleeps at most while the inbox serves it (seconds, drawn at
# random so that the consumers of a queue object do not look all at once): the inbox reads
# every max_interval and tells it when a job is due, so this is only a safety net.
_SERVED_PAUSE = (60.0, 120.0)
# Jobs taken for a consumer ahead of its asking (with its completion) are handed out only
# within this share of their lock timeout from their take; later, they go back uncounted.
_FRESH = 0.1


class Poller:
    """Takes due jobs for one consumer loop, waiting as long as none is due.

    Use it as a context manager: while inside, the queue object keeps its wake-up
    subscription.
    """

    def __init__(
        self,
        *,
        queue_name: str,
        take: Callable[[int], Awaitable[list[Job]]],
        hand_back: Callable[[Sequence[Job]], Awaitable[None]],
        waker: Waker,
        min_interval: float,
        max_interval: float,
        inbox: Inbox | None = None,
        lock_ms: int = 0,
        jobs: Callable[[list[Delivery]], list[Job]] | None = None,
        orphan: Callable[[list[Delivery]], None] | None = None,
    ) -> None:
        self._queue_name = queue_name
        self._take = take
        self._hand_back = hand_back
        self._waker = waker
        self._low = min_interval
        self._high = max_interval
        self._idle = 0
        self._failures = 0
        self._inbox = inbox if jobs is not None else None
        self._lock_ms = lock_ms
        self._jobs = jobs
        self._orphan = orphan
        # handed off to it (by the inbox, or with a completion), not taken yet; since when
        self._handed: list[Delivery] = []
        self._handed_at = 0.0
        self._signal: asyncio.Event | None = None
        # told at once when jobs are handed off to it (the Worker's feed takes them then)
        self.on_handed: Callable[[], None] | None = None
        self.out: Job | None = None  # consume(): the job its loop has out, until it asks again
        self._open = False

    def __enter__(self) -> Poller:
        self._waker.acquire()
        if self._inbox is not None:
            self._inbox.acquire()
        self._open = True
        return self

    def __exit__(self, *exc: object) -> None:
        self._open = False
        self.out = None
        if self._inbox is not None:
            self._inbox.unwant(self)
        self._give_back_handed()
        if self._inbox is not None:
            self._inbox.release()
        self._waker.release()

    @property
    def lock_ms(self) -> int:
        """How long the jobs it takes are locked (ms)."""
        return self._lock_ms

    def _give_back_handed(self) -> None:
        handed, self._handed = self._handed, []
        if handed and self._orphan is not None:
            self._orphan(handed)

    def chains(self, job: Job) -> bool:
        """Whether completing ``job`` may take this consumer's next job in the same round
        trip (``receive_next``): it is the job its loop has out, and nothing waits for it."""
        return self._open and self.out is job and not self._handed and self._jobs is not None

    def receive_next(self, jobs: list[Delivery], since: float) -> None:
        """The next jobs of this consumer, taken with a completion asked at ``since``
        (``time.monotonic()``) while its loop had a job out: its next take starts with
        them, unless their locks ran too long meanwhile (then they go back). Once the loop
        ended, they go back at once."""
        self._handed.extend(jobs)
        self._handed_at = since
        if not self._open:
            self._give_back_handed()

    def receive(self, jobs: list[Delivery]) -> None:
        """From the inbox: jobs handed off to this consumer (none: look now)."""
        if jobs and not self._handed:
            self._handed_at = time.monotonic()
        self._handed.extend(jobs)
        if jobs and self.on_handed is not None:
            self.on_handed()
        if self._signal is not None:
            self._signal.set()

    async def take(self, count: int) -> list[Job]:
        """Wait until at least one job is due, then take up to ``count`` of them.

        Cancellable at any await: jobs taken for a task cancelled meanwhile are given back.
        """
        while True:
            signal = self.signal()
            jobs = await self.try_take(count)
            if jobs:
                return jobs
            await self.pause(signal)

    async def try_take(self, count: int) -> list[Job] | None:
        """Take up to ``count`` due jobs now: [] if none is due, None if Redis could not be
        reached or could not serve (logged once per outage); other errors raise. Take
        ``signal()`` before, for ``pause()``."""
        self.out = None
        if self._inbox is not None:
            self._inbox.unwant(self)
        if self._handed:
            if time.monotonic() - self._handed_at < self._lock_ms * _FRESH / 1000:
                return self._take_handed(count)
            self._give_back_handed()  # their locks ran too long: take afresh
        try:
            jobs = await self._take(count)
        except CAUGHT as exc:
            if not is_transient(exc):
                raise
            if cancel_requested():
                raise asyncio.CancelledError from exc
            if self._failures == 0:
                # redis-py's exceptions show only their class in repr(): say the reply too
                logger.warning(
                    "queue %r: Redis unavailable, retrying: %s: %s",
                    self._queue_name,
                    type(exc).__name__,
                    exc,
                    extra={"queue": self._queue_name, "error": f"{type(exc).__name__}: {exc}"},
                )
            self._failures += 1
            return None
        if cancel_requested():
            # a layer below took the cancellation in: give the jobs back, then let it
            # be raised again (an anyio cancel scope raises its own at the next await)
            if jobs:
                await self._hand_back(jobs)
            await asyncio.sleep(0)
            raise asyncio.CancelledError
        if self._failures:
            logger.info(
                "queue %r: Redis reachable again",
                self._queue_name,
                extra={"queue": self._queue_name},
            )
            self._failures = 0
        if jobs:
            self._idle = 0
        elif self._inbox is not None and count > 0:
            self._inbox.want(self, count, self._lock_ms, self._high)
        return jobs

    def _take_handed(self, count: int) -> list[Job]:
        """Up to ``count`` of the jobs handed off to it; the rest go back at once."""
        jobs = self.take_handed(count)
        self._give_back_handed()
        return jobs

    def take_handed(self, count: int) -> list[Job]:
        """Up to ``count`` of the jobs handed off to it, at once (no call to Redis); the
        rest stay for the next ``try_take()``, which takes or gives them back."""
        if not self._handed or count <= 0 or self._jobs is None:
            return []
        handed, self._handed = self._handed[:count], self._handed[count:]
        self._idle = 0
        return self._jobs(handed)

    async def hand_back(self, jobs: Sequence[Job]) -> None:
        """Give back at once, uncounted, jobs taken that nobody will run."""
        await self._hand_back(jobs)

    def signal(self) -> asyncio.Event:
        """The event the next wake-up (or hand-off) sets: take it before ``try_take()``."""
        self._signal = self._waker.signal(self._signal)
        return self._signal

    async def pause(self, signal: asyncio.Event) -> None:
        """After ``try_take()`` found nothing (or no Redis): wait with backoff, or until a
        wake-up."""
        if self._failures:
            await asyncio.sleep(self.pause_seconds())
            return
        await self._waker.wait(signal, self.pause_seconds())

    def pause_seconds(self) -> float:
        """How long ``pause()`` waits at most now: a jittered backoff that grows with each
        empty look (or each failed one) and starts again after a job."""
        if self._failures:
            return backoff(self._failures - 1, base=self._low, cap=self._high, floor=self._low)
        if self._inbox is not None and self._inbox.serving:
            return random.uniform(*_SERVED_PAUSE)
        wait = backoff(self._idle, base=self._low, cap=self._high, floor=self._low)
        self._idle += 1
        return wait
