"""Feed: a Worker's jobs between its queues and its handler slots.

One feeder loop takes jobs for the idle slots and a small prefetch beyond them, and each
round trip that takes jobs also carries the completions of the jobs whose handlers returned
since the last one (``QueueLink.complete_soon``): a slot that frees up finds its next job
waiting, and a completion costs no round trip of its own. At most one round trip is in
flight, so under load each carries what came in during the one before.

Jobs waiting in the prefetch are locked like running ones, and the Worker renews their
locks with the others (``held()``); jobs not started when the worker stops, or when its
task is cancelled, are given back at once, uncounted, so another worker takes them now.
"""

from __future__ import annotations

import asyncio
import collections
import functools
import time
from collections.abc import Callable, Iterator, Sequence

import anyio
import anyio.lowlevel

from ._fair import FairTaker
from ._job import Job
from ._link import QueueLink
from ._running import Running

__all__ = ["Feed"]

# How long giving back the jobs not started may take when the worker is cancelled (s)
_GIVE_BACK_TIMEOUT = 5.0


class Feed:
    """The jobs of one ``Worker.run()``: taken into a prefetch of at most ``prefetch``
    jobs beyond the slots waiting for one, and handed to the slots in the order taken.

    ``start(link, job, lock_until)`` makes the ``Running`` of a job taken (``lock_until``:
    the monotonic time its lock ends at the latest).
    """

    def __init__(
        self,
        links: Sequence[QueueLink],
        *,
        prefetch: int,
        lock_ms: int,
        start: Callable[[QueueLink, Job, float], Running],
    ) -> None:
        self._taker = FairTaker(links)
        self._prefetch = prefetch
        self._lock_s = lock_ms / 1000
        self._start = start
        self._ready: collections.deque[Running] = collections.deque()  # taken, not started
        self._idle = 0  # slots waiting in next()
        self._filled = asyncio.Event()  # set when jobs come in (then replaced)
        self._poked = asyncio.Event()  # set when the feeder has something to do
        self._stopping = False
        self._ended = False  # run() has ended: jobs handed off are left to the links
        for link in links:
            link.on_handed(functools.partial(self._handed, link))

    def held(self) -> Iterator[Running]:
        """The jobs taken and not handed to a slot yet (their locks need renewing too)."""
        return iter(self._ready)

    def poke(self) -> None:
        """Tell the feeder it has something to do (a completion waits, a slot is free)."""
        self._poked.set()

    def stop(self) -> None:
        """Take no more jobs: give back those not started, send the completions still
        coming, and return from ``run()`` once ``settled()``."""
        self._stopping = True
        self._poked.set()

    async def next(self) -> Running:
        """The next job for a free slot: waits until one is taken (for ever once stopped)."""
        while not self._ready or self._stopping:
            self._idle += 1
            self._poked.set()
            try:
                await self._filled.wait()
            finally:
                self._idle -= 1
        return self._ready.popleft()

    def _handed(self, link: QueueLink) -> None:
        """Jobs were handed off to ``link``: give them to the slots waiting, and to the
        prefetch, now, from the task that read them (no turn of the feeder in between)."""
        if self._stopping or self._ended:
            return  # the feeder's next take gives them back (or the link, as it closes)
        jobs = link.take_handed(self._idle + self._prefetch - len(self._ready))
        if jobs:
            lock_until = time.monotonic() + self._lock_s
            self._ready.extend(self._start(link, job, lock_until) for job in jobs)
            filled, self._filled = self._filled, asyncio.Event()
            filled.set()

    async def run(self, settled: Callable[[], bool]) -> None:
        """Take jobs until ``stop()``, then send the completions still coming until
        ``settled()`` says no job runs or waits for its outcome. Jobs not started are
        given back at once when it stops or is cancelled."""
        taker = self._taker
        try:
            while True:
                if self._stopping:
                    await self._give_back()
                    if settled() and not taker.settling:
                        return
                    want = 0
                else:
                    want = self._idle + self._prefetch - len(self._ready)
                if want <= 0 and not taker.settling:
                    await self._poked.wait()
                    self._poked = asyncio.Event()
                    continue
                # one turn of the event loop: handlers ending in this same turn send their
                # completions with this round trip too
                await anyio.lowlevel.checkpoint()
                self._poked = poked = asyncio.Event()
                want = 0 if self._stopping else self._idle + self._prefetch - len(self._ready)
                signals = taker.signals()
                asked = time.monotonic()
                taken = await taker.take(max(want, 0))
                lock_until = asked + self._lock_s
                self._ready.extend(self._start(link, job, lock_until) for link, job in taken)
                if taken:
                    filled, self._filled = self._filled, asyncio.Event()
                    filled.set()
                elif want > 0 and not poked.is_set():
                    # nothing due: wait with backoff, until a wake-up, or until a poke
                    # (a completion to send, a stop)
                    await taker.pause([*signals, poked])
        finally:
            self._ended = True
            if self._ready:
                with anyio.CancelScope(shield=True), anyio.move_on_after(_GIVE_BACK_TIMEOUT):
                    await self._give_back()

    async def _give_back(self) -> None:
        """Give back at once, uncounted, the jobs taken and not started."""
        if not self._ready:
            return
        jobs = list(self._ready)
        self._ready.clear()
        by_link: dict[QueueLink, list[Job]] = {}
        for running in jobs:
            by_link.setdefault(running.link, []).append(running.job)
        for link, given in by_link.items():
            await link.hand_back(given)
