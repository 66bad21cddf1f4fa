"""Taker: the gets of one queue object, batched and bounded.

Concurrent gets with the same lock timeout share one ``get.lua`` call (one ``Batcher`` per
lock timeout, for up to 16 timeouts; gets with other timeouts go alone). No script call
locks more than ``SCRIPT_JOBS`` jobs, so that none keeps Redis busy: a get of more takes
them in parts, one script call after another.
"""

from __future__ import annotations

import asyncio
import secrets
from collections.abc import Callable

from ._batch import SCRIPT_JOBS, Batcher
from ._scripts import Delivery, Scripts

__all__ = ["Taker"]

# How many gets of one lock timeout at most share a script call.
_BATCH_ITEMS = 256
# Lock timeouts for which gets are batched (each has its own batcher).
_BATCHERS = 16


class Taker:
    """Takes due jobs for the gets of one queue object.

    ``orphan`` receives the jobs taken for a caller cancelled before it got them, to give
    them back; it must not block.
    """

    def __init__(
        self, scripts: Scripts, max_deliveries: int, orphan: Callable[[list[Delivery]], None]
    ) -> None:
        self._scripts = scripts
        self._max_deliveries = max_deliveries
        self._orphan = orphan
        self._batchers: dict[int, Batcher[int, list[Delivery]]] = {}

    async def take(self, count: int, lock_ms: int) -> list[Delivery]:
        """Lock up to ``count`` due jobs for ``lock_ms`` ms, oldest-due first.

        More than ``SCRIPT_JOBS`` are taken in parts until a part finds fewer due. If a
        part fails after others took jobs, those are returned (the error comes again at
        the next call); if the caller is cancelled, they go to ``orphan``.
        """
        if count <= SCRIPT_JOBS:
            return await self._take_one(count, lock_ms)
        taken: list[Delivery] = []
        try:
            while len(taken) < count:
                ask = min(SCRIPT_JOBS, count - len(taken))
                part = await self._take_one(ask, lock_ms)
                taken.extend(part)
                if len(part) < ask:
                    break
        except asyncio.CancelledError:
            self._orphan(taken)
            raise
        except Exception:
            if not taken:
                raise
        return taken

    async def _take_one(self, count: int, lock_ms: int) -> list[Delivery]:
        """Up to ``count`` (<= SCRIPT_JOBS) jobs, in a script call shared with the gets of
        other tasks made meanwhile."""
        batcher = self._batchers.get(lock_ms)
        if batcher is None and len(self._batchers) < _BATCHERS:
            batcher = self._batchers[lock_ms] = Batcher(
                lambda counts: self._send(counts, lock_ms),
                max_items=_BATCH_ITEMS,
                weight=int,
                max_weight=SCRIPT_JOBS,
                orphan=self._orphan,
            )
        if batcher is None:
            (taken,) = await self._send([count], lock_ms)
            return taken
        return await batcher.submit(count)

    async def _send(self, counts: list[int], lock_ms: int) -> list[list[Delivery]]:
        """One get.lua call for several callers at once: each gets its count, in order."""
        taken = await self._scripts.get(
            sum(counts), lock_ms, secrets.token_hex(8), self._max_deliveries, orphan=self._orphan
        )
        shares, start = [], 0
        for count in counts:
            shares.append(taken[start : start + count])
            start += count
        return shares

    async def aclose(self) -> None:
        """Wait for the batches still running."""
        for batcher in self._batchers.values():
            await batcher.aclose()
