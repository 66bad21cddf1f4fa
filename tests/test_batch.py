"""Group commit of concurrent calls (the Batcher), on its own, without Redis."""

from __future__ import annotations

import asyncio

import pytest

from aioredisjobqueue._batch import Batcher


class Recorder:
    def __init__(self, delay: float = 0.01, fail: Exception | None = None) -> None:
        self.batches: list[list[int]] = []
        self.orphans: list[int] = []
        self.delay = delay
        self.fail = fail

    async def send(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if self.fail is not None:
            raise self.fail
        return [i * 10 for i in items]

    def orphan(self, result: int) -> None:
        self.orphans.append(result)


async def test_calls_one_at_a_time_each_go_out_alone() -> None:
    rec = Recorder(delay=0)
    batcher = Batcher(rec.send, max_items=100)
    assert [await batcher.submit(i) for i in range(5)] == [0, 10, 20, 30, 40]
    assert rec.batches == [[0], [1], [2], [3], [4]]


async def test_concurrent_calls_share_round_trips_and_get_their_own_results() -> None:
    rec = Recorder()
    batcher = Batcher(rec.send, max_items=100)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(50)))
    assert results == [i * 10 for i in range(50)]
    assert sorted(i for batch in rec.batches for i in batch) == list(range(50))
    assert len(rec.batches) <= 3


async def test_a_batch_holds_at_most_max_items() -> None:
    rec = Recorder()
    batcher = Batcher(rec.send, max_items=7)
    await asyncio.gather(*(batcher.submit(i) for i in range(40)))
    assert max(len(b) for b in rec.batches) <= 7
    assert sorted(i for batch in rec.batches for i in batch) == list(range(40))


async def test_an_error_reaches_every_caller_of_the_batch() -> None:
    rec = Recorder(fail=ConnectionError("down"))
    batcher = Batcher(rec.send, max_items=100)
    results = await asyncio.gather(*(batcher.submit(i) for i in range(10)), return_exceptions=True)
    assert all(isinstance(r, ConnectionError) for r in results)
    # and the batcher goes on working
    rec.fail = None
    assert await batcher.submit(3) == 30


async def test_a_result_whose_caller_was_cancelled_goes_to_orphan() -> None:
    rec = Recorder(delay=0.02)
    batcher = Batcher(rec.send, max_items=100, orphan=rec.orphan)
    first = asyncio.create_task(batcher.submit(1))  # goes out alone
    await asyncio.sleep(0)
    waiting = [asyncio.create_task(batcher.submit(i)) for i in range(2, 6)]
    await asyncio.sleep(0)
    waiting[1].cancel()  # submit(3), waiting for the next batch
    assert await first == 10
    done = await asyncio.gather(*waiting, return_exceptions=True)
    assert isinstance(done[1], asyncio.CancelledError)
    assert [d for i, d in enumerate(done) if i != 1] == [20, 40, 50]
    await batcher.aclose()
    assert rec.orphans == [30]


async def test_a_caller_cancelled_as_its_result_arrives_hands_it_to_orphan() -> None:
    rec = Recorder(delay=0.01)
    batcher = Batcher(rec.send, max_items=100, orphan=rec.orphan)
    first = asyncio.create_task(batcher.submit(1))  # goes out alone
    await asyncio.sleep(0)
    a = asyncio.create_task(batcher.submit(2))
    b = asyncio.create_task(batcher.submit(3))
    await asyncio.sleep(0)
    entry_a, entry_b = batcher._pending
    assert (entry_a.item, entry_b.item) == (2, 3)
    # a's result is set just before b's, in the same turn: cancelling b from a's callback
    # lands after b's result is set but before b runs again
    entry_a.future.add_done_callback(lambda _: b.cancel())
    assert await first == 10
    assert await a == 20
    with pytest.raises(asyncio.CancelledError):
        await b
    assert entry_b.future.result() == 30
    await batcher.aclose()
    assert rec.orphans == [30]
