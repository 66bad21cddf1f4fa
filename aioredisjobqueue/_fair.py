"""Several queues for one Worker: checking them, taking jobs fairly, waiting on all at once."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import anyio

from ._job import Job
from ._link import QueueLink
from ._queue import RedisJobQueue
from ._transient import CAUGHT

logger = logging.getLogger("aioredisjobqueue")

__all__ = ["FairTaker", "queues_of", "warn_of_unknown"]


class FairTaker:
    """Takes due jobs from several queues so that none starves another.

    Each call starts at the next queue in turn and offers each queue its share of the
    free slots (what is left, divided by the queues not asked yet): a queue with fewer due
    jobs leaves its share to the queues after it.
    """

    def __init__(self, links: Sequence[QueueLink]) -> None:
        self._links = list(links)
        self._next = 0

    def signals(self) -> list[asyncio.Event]:
        """The events the queues' next wake-ups set: take them before ``take()``."""
        return [link.signal() for link in self._links]

    async def take(self, count: int) -> list[tuple[QueueLink, Job]]:
        """Take up to ``count`` due jobs across the queues, each with its queue's link; the
        completions waiting in each queue go with its take (alone, if it takes none)."""
        n = len(self._links)
        start, self._next = self._next, (self._next + 1) % n
        taken: list[tuple[QueueLink, Job]] = []
        for k in range(n):
            left = count - len(taken)
            link = self._links[(start + k) % n]
            share = -(-left // (n - k))  # rounded up: with fewer slots than queues, one each
            if share or link.settling:
                jobs = await link.try_take(share)
                taken.extend((link, job) for job in jobs or ())
        return taken

    @property
    def settling(self) -> bool:
        """Whether completions wait in any queue for the next take."""
        return any(link.settling for link in self._links)

    async def pause(self, signals: Sequence[asyncio.Event]) -> None:
        """After ``take()`` found nothing: wait with backoff, or until a queue wakes up."""
        seconds = min(link.pause_seconds() for link in self._links)
        if any(signal.is_set() for signal in signals):
            return
        with anyio.move_on_after(seconds):
            if len(signals) == 1:
                await signals[0].wait()
                return
            async with anyio.create_task_group() as waits:
                for signal in signals:
                    waits.start_soon(_set_then_cancel, signal, waits.cancel_scope)


async def _set_then_cancel(signal: asyncio.Event, scope: anyio.CancelScope) -> None:
    await signal.wait()
    scope.cancel()


def queues_of(
    queue: RedisJobQueue | Sequence[RedisJobQueue] | None,
    queues: Sequence[RedisJobQueue] | None,
) -> tuple[RedisJobQueue, ...]:
    """The queues a Worker was given, as ``queue`` or as ``queues``, checked."""
    if queue is not None and queues is not None:
        raise TypeError("give the queues either as the first argument or as queues=, not both")
    given = queues if queue is None else queue
    if given is None:
        raise TypeError("Worker needs a queue, or several as queues=[...]")
    found = (given,) if isinstance(given, RedisJobQueue) else tuple(given)
    if not found:
        raise ValueError("queues must not be empty, got []")
    for q in found:
        if not isinstance(q, RedisJobQueue):
            raise TypeError(f"queue must be a RedisJobQueue, got {q!r}")
    names = [q.name for q in found]
    for name in names:
        if names.count(name) > 1:
            raise ValueError(f"queues must have different names, got {name!r} twice")
    return found


async def warn_of_unknown(links: Sequence[QueueLink]) -> None:
    """A queue nothing was ever put in is likely a misspelled name: say so."""
    for link in links:
        try:
            known = await link.exists()
        except CAUGHT:
            return  # the feeder waits Redis out and says so (or raises a real error)
        if not known:
            logger.warning(
                "queue %r has never had a job (no marker key): is its name right? "
                "The worker waits for jobs on it anyway",
                link.name,
            )
