"""Group commit: concurrent calls of one kind share one Redis round trip.

A call made while no batch of its kind is in flight goes out at once, alone, so a caller
that awaits one call at a time pays no added latency. Calls made while a batch is in flight
wait for it and then go out together, at most ``max_items`` to a batch. There is at most
one batch of a kind in flight, so under load each round trip carries everything that
arrived during the previous one. Once calls have been seen to overlap, a call that finds
nothing in flight waits one turn of the event loop before going out, so that the calls
made in the same turn (consumers woken by one batch, say) share its round trip; the first
batch of one call turns that off again.

A batch is bounded by ``max_items`` and by the sum of its items' ``weight`` (jobs, bytes),
so that no batch makes one long script call. When a batch of several calls fails with an
error reply that is not transient (Redis refused it: a bad argument, out of memory), each
of its calls is sent again alone, so that the error reaches only the calls that cause it.
That is exact when the refusal came before the script wrote anything, as it does for a
bad argument or OOM. A broken connection or a transient reply reaches every call of the
batch: whether it ran is unknown, or it did not run at all, for all of them alike.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from typing import Generic, TypeVar

from redis.exceptions import ResponseError

from ._transient import is_transient

__all__ = ["SCRIPT_BYTES", "SCRIPT_JOBS", "Batcher", "chunks"]

# Bounds of one script call, so that no call of the library keeps Redis busy for long
# (a few ms): bulk calls and batches are split into script calls of at most this many
# jobs and, for puts, this many bytes of payload (a larger payload goes alone).
SCRIPT_JOBS = 1000
SCRIPT_BYTES = 4 * 1024 * 1024

T = TypeVar("T")
R = TypeVar("R")


def chunks(
    items: list[T], max_items: int, max_weight: int, *, weight: Callable[[T], int]
) -> Iterator[list[T]]:
    """Split ``items`` in order into lists of at most ``max_items`` items whose weights add
    up to at most ``max_weight`` (an item heavier than that alone)."""
    chunk: list[T] = []
    total = 0
    for item in items:
        w = weight(item)
        if chunk and (len(chunk) == max_items or total + w > max_weight):
            yield chunk
            chunk, total = [], 0
        chunk.append(item)
        total += w
    if chunk:
        yield chunk


class _Entry(Generic[T, R]):
    __slots__ = ("future", "item")

    def __init__(self, item: T, future: asyncio.Future[R]) -> None:
        self.item = item
        self.future = future


class Batcher(Generic[T, R]):
    """Send items through ``send`` (a list of items in, a list of results out, in order).

    A batch holds at most ``max_items`` items and, with ``weight``, items whose weights
    add up to at most ``max_weight`` (an item heavier than that goes alone).

    ``orphan`` receives a result whose caller was cancelled before it could take it (for
    jobs taken by ``get``: the queue gives them back); it must not block. Batches after the
    first of a burst run as tasks owned by the batcher; ``aclose()`` waits for them.
    """

    def __init__(
        self,
        send: Callable[[list[T]], Awaitable[list[R]]],
        *,
        max_items: int,
        weight: Callable[[T], int] = lambda item: 0,
        max_weight: int = 0,
        orphan: Callable[[R], None] | None = None,
    ) -> None:
        self._send = send
        self._max_items = max_items
        self._weight = weight
        self._max_weight = max_weight
        self._orphan = orphan
        self._pending: list[_Entry[T, R]] = []
        self._busy = False
        self._overlap = False  # calls were seen to overlap lately
        self._start_soon = False  # a batch start is scheduled for the next loop turn
        self._tasks: set[asyncio.Task[None]] = set()

    async def submit(self, item: T) -> R:
        """Send ``item`` in the next batch and return its result."""
        if not self._busy and not self._overlap:
            # nothing in flight and nobody else around: go out now, alone
            self._busy = True
            try:
                (result,) = await self._send([item])
            finally:
                self._busy = False
                self._start_next()
            return result
        loop = asyncio.get_running_loop()
        future: asyncio.Future[R] = loop.create_future()
        self._pending.append(_Entry(item, future))
        if self._busy:
            self._overlap = True
        elif not self._start_soon:
            self._start_soon = True
            loop.call_soon(self._start_next)
        try:
            return await future
        except asyncio.CancelledError:
            # the result may have come in the same instant as the cancellation
            if future.done() and not future.cancelled() and future.exception() is None:
                self._adopt(future.result())
            raise

    def _start_next(self) -> None:
        self._start_soon = False
        if self._busy or not self._pending:
            return
        size = self._batch_size()
        batch = self._pending[:size]
        del self._pending[:size]
        self._overlap = len(batch) > 1 or bool(self._pending)
        self._busy = True
        task = asyncio.get_running_loop().create_task(self._run(batch))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _batch_size(self) -> int:
        """How many of the pending items go in the next batch."""
        items = [entry.item for entry in self._pending[: self._max_items]]
        return len(next(chunks(items, self._max_items, self._max_weight, weight=self._weight)))

    async def _run(self, batch: list[_Entry[T, R]]) -> None:
        try:
            try:
                results = await self._send([entry.item for entry in batch])
            except ResponseError as exc:
                if len(batch) == 1 or is_transient(exc):
                    raise
                # Redis refused the merged call: find whose call it was
                await asyncio.gather(*(self._run_alone(entry) for entry in batch))
                return
        except Exception as exc:
            for entry in batch:
                if not entry.future.done():
                    entry.future.set_exception(exc)
        except BaseException:
            for entry in batch:
                entry.future.cancel()
            raise
        else:
            for entry, result in zip(batch, results, strict=True):
                self._resolve(entry, result)
        finally:
            self._busy = False
            self._start_next()

    async def _run_alone(self, entry: _Entry[T, R]) -> None:
        try:
            (result,) = await self._send([entry.item])
        except Exception as exc:
            if not entry.future.done():
                entry.future.set_exception(exc)
        else:
            self._resolve(entry, result)

    def _resolve(self, entry: _Entry[T, R], result: R) -> None:
        if entry.future.done():  # its caller was cancelled
            self._adopt(result)
        else:
            entry.future.set_result(result)

    def _adopt(self, result: R) -> None:
        if self._orphan is not None:
            self._orphan(result)

    async def aclose(self) -> None:
        """Wait for the batches still running."""
        while self._tasks:
            await asyncio.gather(*self._tasks, return_exceptions=True)
