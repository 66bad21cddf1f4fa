"""Taking jobs fairly from several queues, and waiting on all of them at once."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import anyio

from ._job import Job
from ._link import QueueLink

__all__ = ["FairTaker"]


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
        """Take up to ``count`` due jobs across the queues, each with its queue's link."""
        n = len(self._links)
        start, self._next = self._next, (self._next + 1) % n
        taken: list[tuple[QueueLink, Job]] = []
        for k in range(n):
            left = count - len(taken)
            if left == 0:
                break
            link = self._links[(start + k) % n]
            share = -(-left // (n - k))  # rounded up: with fewer slots than queues, one each
            jobs = await link.try_take(share)
            taken.extend((link, job) for job in jobs or ())
        return taken

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
