"""QueueLink: the one door between a Worker and a queue.

The Worker takes, waits for, hands back, settles and extends jobs only through this
interface, which the queue makes (``RedisJobQueue._link``): each side can change its
insides without breaking the other.

    take        try_take(count), signal(), pause_seconds(), hand_back(jobs),
                on_handed(told), take_handed(count)
    settle      complete_soon(completion, deadline, done) (sent with the next take),
                completion(job, result, ttl), settling, complete(job, result),
                retry(job, delay, error), dead_letter(job, error), give_back(job)
    hold        extend(job)
    tick        put_tick(schedule, tick, payload), last_tick(schedule)
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

from . import _codec
from ._batch import SCRIPT_JOBS
from ._errors import LockLostError
from ._results import NO_RESULT
from ._scripts import Completion
from ._status import bound_error

if TYPE_CHECKING:
    from ._job import Job
    from ._queue import RedisJobQueue
    from ._scripts import Scripts

__all__ = ["NO_RESULT", "QueueLink", "Settled"]

# What a completion sent with a take comes to: True the job was removed, False its token
# had lost it, or the error that kept it from being recorded while its lock lasted.
Settled = Callable[[bool | BaseException], None]

# The most completions one round trip carries.
_ROUND = 256


class QueueLink:
    """What a Worker may do with one queue, for jobs locked ``lock_ms`` at a time.

    Use it as a context manager while taking jobs: inside, the queue keeps its wake-up
    subscription.
    """

    def __init__(
        self,
        queue: RedisJobQueue,
        *,
        lock_ms: int,
        min_interval: float,
        max_interval: float,
        scripts: Scripts,
        max_deliveries: int,
    ) -> None:
        self._queue = queue
        self._lock_ms = lock_ms
        self._poller = queue._poller(lock_ms, min_interval, max_interval, take=self._round)
        self._scripts = scripts
        self._max_deliveries = max_deliveries  # the queue's (0: no limit)
        # completions waiting for the next take: (completion, give up at, told the outcome)
        self._settling: list[tuple[Completion, float, Settled]] = []

    @property
    def queue(self) -> RedisJobQueue:
        """The queue behind this link."""
        return self._queue

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._queue.name

    def __enter__(self) -> QueueLink:
        self._poller.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        self._poller.__exit__(*exc)

    async def exists(self) -> bool:
        """Whether the queue was ever put in (it has its marker key)."""
        return bool(await self._queue.redis.exists(self._queue.keys.marker))

    # -- taking --------------------------------------------------------------------------

    def signal(self) -> asyncio.Event:
        """The event the queue's next wake-up sets: take it before ``try_take()``."""
        return self._poller.signal()

    async def try_take(self, count: int) -> list[Job] | None:
        """Send the completions waiting (``complete_soon``) and take up to ``count`` due
        jobs, in one round trip: [] if none is due, None if Redis could not be reached
        (logged once per outage)."""
        return await self._poller.try_take(count)

    def on_handed(self, told: Callable[[], None]) -> None:
        """Call ``told`` (it must not block) as soon as jobs are handed off to this link's
        idle consumer, so that ``take_handed`` gets them without waiting for a take."""
        self._poller.on_handed = told

    def take_handed(self, count: int) -> list[Job]:
        """Up to ``count`` of the jobs handed off to it, at once and without a round trip
        (their completions wait for the next take); those left go with ``try_take``."""
        return self._poller.take_handed(count)

    async def _round(self, count: int) -> list[Job]:
        """One round trip: the completions waiting, then a get of ``count`` jobs."""
        settling, self._settling = self._settling[:_ROUND], self._settling[_ROUND:]
        try:
            done, taken, error = await self._queue._complete_take(
                [completion for completion, _, _ in settling],
                min(count, SCRIPT_JOBS),
                self._lock_ms,
            )
        except Exception as exc:
            # whether they ran is unknown: they go again with the next take, while their
            # locks last (a job a retry finds gone is told lost, as a late complete is)
            now = time.monotonic()
            kept = [entry for entry in settling if entry[1] > now]
            for _, until, settled in settling:
                if until <= now:
                    settled(exc)
            self._settling[:0] = kept
            raise
        for (_, _, settled), removed in zip(settling, done, strict=True):
            settled(removed)
        if error is not None:
            raise error
        return self._queue._jobs(taken)

    def pause_seconds(self) -> float:
        """How long to wait after ``try_take()`` found nothing (or no Redis): a backoff that
        grows with each empty look and starts again after a job."""
        return self._poller.pause_seconds()

    async def hand_back(self, jobs: Sequence[Job]) -> None:
        """Give back at once, uncounted, jobs taken that no handler will run."""
        await self._poller.hand_back(jobs)

    # -- settling --------------------------------------------------------------------------

    def completion(self, job: Job, result: Any, result_ttl: float | None) -> Completion:
        """What completing ``job`` sends, its ``result`` kept (unless ``NO_RESULT``) for
        ``result_ttl`` seconds (None: the queue's default). ``TypeError``/``ValueError``
        for a result JSON cannot hold."""
        return self._queue._completion(job, result, result_ttl)

    def complete_soon(self, completion: Completion, until: float, settled: Settled) -> None:
        """Send ``completion`` with the next take (``try_take``); ``settled`` is told how it
        went. Redis failures are retried with each take until ``until`` (monotonic time,
        the end of the job's lock), then ``settled`` gets the error."""
        self._settling.append((completion, until, settled))

    @property
    def settling(self) -> bool:
        """Whether completions wait for the next take."""
        return bool(self._settling)

    async def complete(
        self, job: Job, result: Any = NO_RESULT, result_ttl: float | None = None
    ) -> None:
        """Remove ``job`` for good, keeping ``result`` (if given) for ``result_ttl`` seconds
        (None: the queue's default). ``LockLostError`` if another consumer holds it now;
        ``TypeError``/``ValueError`` for a result JSON cannot hold."""
        await self._queue.complete(job, result=result, result_ttl=result_ttl)

    async def retry(self, job: Job, delay: float, error: str | None) -> bool:
        """Give ``job`` back, due after ``delay`` seconds: True if it waits again, False if
        the queue's ``max_deliveries`` sent it to the dead letters."""
        delay_us = round(delay * 1_000_000)
        outcome = await self._scripts.release(
            job.id, job.token, delay_us, self._max_deliveries, error=bound_error(error)
        )
        if outcome == 0:
            raise LockLostError(queue_name=self.name, job_id=job.id, action="release")
        return outcome == 1

    async def dead_letter(self, job: Job, error: str | None) -> None:
        """Move ``job`` to the dead letters now, ``error`` its last error."""
        if not await self._scripts.dead_letter(job.id, job.token, bound_error(error)):
            raise LockLostError(queue_name=self.name, job_id=job.id, action="dead-letter")

    async def give_back(self, job: Job) -> None:
        """Give ``job`` back due now, its delivery not counted (its handler was stopped)."""
        if not await self._scripts.release(job.id, job.token, 0, 0, undo=True):
            raise LockLostError(queue_name=self.name, job_id=job.id, action="release")

    # -- periodic jobs -------------------------------------------------------------------

    async def put_tick(self, schedule: str, tick: datetime, payload: Any) -> bool:
        """Queue ``payload`` as the job of ``schedule``'s ``tick``, unless that tick (or a
        later one) was queued before: True if this call queued it."""
        text = _codec.encode(payload)
        tick_us = round(tick.timestamp() * 1_000_000)
        return await self._scripts.tick(schedule, tick_us, _codec.id_of(text), text) == 1

    async def last_tick(self, schedule: str) -> float | None:
        """The Unix time of ``schedule``'s last tick queued, None if it never ran here (on
        a sharded queue, the last of every shard's, as a tick is queued on its job's)."""
        redis = self._queue.redis
        values = [await redis.hget(keys.ticks, schedule) for keys in self._queue.shard_keys]
        found = [int(value) for value in values if value is not None]
        return max(found) / 1_000_000 if found else None

    # -- holding -------------------------------------------------------------------------

    async def extend(self, job: Job) -> None:
        """Hold ``job`` for another ``lock_ms``. ``LockLostError`` if it was taken."""
        await self._queue.extend(job, lock_timeout=self._lock_ms)
