"""Group commit of concurrent calls (the Batcher), on its own, without Redis."""

from __future__ import annotations

import asyncio

import pytest
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from aioredisjobqueue._batch import Batcher, chunks


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


class Refuser(Recorder):
    """Redis refuses every call whose batch holds a negative item."""

    def __init__(self, error: Exception) -> None:
        super().__init__()
        self.error = error

    async def send(self, items: list[int]) -> list[int]:
        self.batches.append(list(items))
        await asyncio.sleep(self.delay)
        if any(i < 0 for i in items):
            raise self.error
        return [i * 10 for i in items]


async def test_a_refused_batch_is_sent_again_part_by_part_so_the_error_stays_with_its_caller() -> (
    None
):
    rec = Refuser(ResponseError("ERR value is out of range"))
    batcher = Batcher(rec.send, max_items=100)
    items = [1, 2, -3, 4, 5, -6, 7]
    results = await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)
    for item, result in zip(items, results, strict=True):
        if item < 0:
            assert isinstance(result, ResponseError)
        else:
            assert result == item * 10
    assert any(len(b) > 1 and min(b) < 0 for b in rec.batches), "no batch was refused"


@pytest.mark.parametrize(
    "error",
    [
        ResponseError("BUSY Redis is busy running a script."),
        RedisConnectionError("connection to Redis lost"),
    ],
    ids=["busy", "connection"],
)
async def test_a_transient_failure_of_a_batch_reaches_all_its_callers_and_is_not_resent(
    error: Exception,
) -> None:
    """BUSY: nothing ran, each caller decides; a dropped connection: it may have run, so
    it is never sent twice."""
    rec = Refuser(error)
    batcher = Batcher(rec.send, max_items=100)
    await asyncio.gather(*(batcher.submit(i) for i in range(3)))
    rec.batches.clear()
    items = [1, -2, 3, 4]
    results = await asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True)
    sent = sorted(i for b in rec.batches for i in b)
    assert sent == sorted(items), "a call was sent twice"
    refused = {i for b in rec.batches if min(b) < 0 for i in b}
    for item, result in zip(items, results, strict=True):
        if item in refused:
            assert result is error
        else:
            assert result == item * 10


async def test_a_batch_holds_at_most_max_weight_but_a_heavier_item_goes_alone() -> None:
    rec = Recorder()
    batcher = Batcher(rec.send, max_items=100, weight=lambda i: i, max_weight=10)
    items = [3, 4, 5, 20, 1, 2, 9, 6]
    results = await asyncio.gather(*(batcher.submit(i) for i in items))
    assert results == [i * 10 for i in items]
    for batch in rec.batches:
        assert sum(batch) <= 10 or len(batch) == 1
    assert [20] in rec.batches


def test_chunks_keep_order_and_bounds() -> None:
    items = [5, 1, 1, 9, 1, 1, 1, 1, 30, 2]
    got = list(chunks(items, 3, 10, weight=lambda i: i))
    assert got == [[5, 1, 1], [9, 1], [1, 1, 1], [30], [2]]
    assert list(chunks([], 3, 10, weight=lambda i: i)) == []
