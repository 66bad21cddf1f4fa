"""Chain: a consume() loop's completion takes its next job in the same round trip.

A ``consume()`` loop completes the job it has out and then asks for the next: two round
trips per job, each shared with the other loops of the queue object. When the job it
completes is the one its loop has out (``Poller.chains``), ``complete()`` sends
``complete.lua`` and ``get.lua`` at once, as the Worker's complete-and-take does
(``_round.complete_take``), and hands the job taken to the loop (``Poller.receive_next``),
whose next step then needs no round trip. Completions of concurrent loops share one
round trip (one ``Batcher`` per lock timeout, for up to 16 timeouts).

A job taken this way is locked from its take, so the loop hands it out only soon after
(``_poll._FRESH``); a loop that ends first, or whose caller was cancelled while the call
was in flight, gives it back at once, uncounted.
"""

from __future__ import annotations

import secrets
from collections.abc import Callable

from ._batch import Batcher
from ._round import complete_take
from ._scripts import Completion, Delivery, Scripts

__all__ = ["Chain"]

# How many completions of one lock timeout at most share a round trip.
_BATCH_ITEMS = 256
# Lock timeouts whose completions are chained (each has its own batcher).
_BATCHERS = 16

Chained = tuple[bool, list[Delivery]]  # removed, and the jobs taken for the loop


class Chain:
    """The chained completions of one queue object; ``orphan`` gives back (without
    blocking) jobs taken for callers cancelled before they got them."""

    def __init__(
        self, scripts: Scripts, max_deliveries: int, orphan: Callable[[list[Delivery]], None]
    ) -> None:
        self._scripts = scripts
        self._max_deliveries = max_deliveries
        self._orphan = orphan
        self._batchers: dict[int, Batcher[Completion, Chained]] = {}

    def accepts(self, lock_ms: int) -> bool:
        """Whether completions of jobs locked ``lock_ms`` at a time can be chained."""
        return lock_ms in self._batchers or len(self._batchers) < _BATCHERS

    async def complete(self, done: Completion, lock_ms: int) -> Chained:
        """Send ``done`` and take one job locked ``lock_ms``, in one round trip shared
        with the chained completions of other loops made meanwhile."""
        batcher = self._batchers.get(lock_ms)
        if batcher is None:
            batcher = self._batchers[lock_ms] = Batcher(
                lambda held: self._send(held, lock_ms),
                max_items=_BATCH_ITEMS,
                orphan=lambda chained: self._orphan(chained[1]),
            )
        return await batcher.submit(done)

    async def _send(self, held: list[Completion], lock_ms: int) -> list[Chained]:
        done, taken, _ = await complete_take(
            self._scripts,
            held,
            len(held),
            lock_ms,
            secrets.token_hex(8),
            self._max_deliveries,
            orphan=self._orphan,
        )
        # a get that failed after the completes ran takes nothing: the loops ask alone
        return [(removed, taken[i : i + 1]) for i, removed in enumerate(done)]

    async def aclose(self) -> None:
        """Wait for the batches still running."""
        for batcher in self._batchers.values():
            await batcher.aclose()
