"""Jobs due at once wait in the ready list, delayed ones in the waiting zset: what users see.

A get takes the oldest-due job of both (and of expired locks); uniqueness, status, cancel,
peek, pages, stats and purge know both; a queue written before the ready list (every job in
the waiting zset) is still read and taken; and a queued job costs at most 150 bytes of
Redis memory beyond its payload.
"""

from __future__ import annotations

import pytest
import redis.asyncio
from conftest import MakeQueue
from helpers import server_clock_passes, server_time_us

from aioredisjobqueue import DuplicateJobError, JobStatus, QueueStats, RedisJobQueue, job_id
from aioredisjobqueue._codec import encode
from aioredisjobqueue._scripts import Scripts
from aioredisjobqueue.testing import RedisServer

# the memory target: Redis bytes per queued job beyond its payload
MAX_BYTES_PER_JOB = 150


async def test_get_takes_ready_and_due_delayed_jobs_oldest_due_first(
    queue: RedisJobQueue,
) -> None:
    await queue.put("delayed", delay=0.2)
    due_at = await server_time_us(queue.redis) + 200_000
    await queue.put_many(["first", "second"])
    await server_clock_passes(queue.redis, due_at)
    await queue.put("last")

    assert [p.payload for p in await queue.peek()] == ["first", "second", "delayed", "last"]
    jobs = await queue.get_many(10)
    assert [j.payload for j in jobs] == ["first", "second", "delayed", "last"]
    assert all(j.deliveries == 1 for j in jobs)
    assert await queue.get() is None


async def test_a_job_released_at_once_goes_behind_the_ready_jobs(queue: RedisJobQueue) -> None:
    await queue.put_many(["a", "b", "c"])
    a = await queue.get()
    assert a is not None and a.payload == "a"
    await a.release()
    assert [j.payload for j in await queue.get_many(3)] == ["b", "c", "a"]


async def test_a_ready_job_is_unique_until_it_leaves_the_queue(queue: RedisJobQueue) -> None:
    first = await queue.put({"n": 1})
    with pytest.raises(DuplicateJobError):
        await queue.put({"n": 1})
    assert await queue.put_many([{"n": 1}, {"n": 2}, {"n": 2}]) == [None, job_id({"n": 2}), None]
    assert await queue.stats() == QueueStats(ready=2, locked=0, delayed=0, dead=0)

    job = await queue.get()
    assert job is not None and job.id == first
    with pytest.raises(DuplicateJobError):  # locked: still in the queue
        await queue.put({"n": 1})
    await job.complete()
    assert await queue.put({"n": 1}) == first
    assert [j.payload for j in await queue.get_many(5)] == [{"n": 2}, {"n": 1}]


async def _lpos_calls(queue: RedisJobQueue) -> int:
    stats = await queue.redis.info("commandstats")
    return int(stats.get("cmdstat_lpos", {}).get("calls", 0))


@pytest.mark.real_redis
async def test_a_duplicate_put_does_not_scan_the_ready_list(real_queue: RedisJobQueue) -> None:
    await real_queue.put_many(range(1000))
    before = await _lpos_calls(real_queue)
    with pytest.raises(DuplicateJobError):
        await real_queue.put(999)
    assert await real_queue.put_many([0, 500]) == [None, None]
    assert await _lpos_calls(real_queue) == before


@pytest.mark.real_redis
async def test_status_of_a_ready_job_does_not_scan_the_ready_list(
    real_queue: RedisJobQueue,
) -> None:
    ids = await real_queue.put_many(range(1000))
    before = await _lpos_calls(real_queue)
    for job in (ids[0], ids[500], ids[999]):
        status = await real_queue.status(job)
        assert status is not None and (status.state, status.due_at) == ("waiting", None)
    assert await real_queue.status(job_id("never put")) is None
    assert await _lpos_calls(real_queue) == before


@pytest.mark.real_redis
async def test_status_after_an_entry_was_lost_looks_in_the_ready_list(
    real_queue: RedisJobQueue,
) -> None:
    kept, lost = await real_queue.put_many(["kept", "lost"])
    await real_queue.redis.lrem(real_queue.keys.ready, 1, bytes.fromhex(lost))  # as evicted
    before = await _lpos_calls(real_queue)
    status = await real_queue.status(kept)
    assert status is not None and status.state == "waiting"
    assert await real_queue.status(lost) is None  # its payload alone is no job
    assert await _lpos_calls(real_queue) == before + 2


async def test_status_cancel_and_peek_of_ready_jobs(queue: RedisJobQueue) -> None:
    before = await server_time_us(queue.redis)
    ids = await queue.put_many(["a", "b", "c"])
    after = await server_time_us(queue.redis)

    status = await queue.status(ids[1])
    assert status == JobStatus(id=ids[1], state="waiting", deliveries=0, due_at=None)
    peeked = await queue.peek()
    assert [(w.id, w.payload) for w in peeked] == list(zip(ids, ["a", "b", "c"], strict=True))
    assert all(before <= round(w.due_at * 1e6) <= after for w in peeked)

    assert await queue.cancel(ids[1]) is True
    assert await queue.cancel(ids[1]) is False
    assert await queue.status(ids[1]) is None
    assert [w.payload for w in await queue.peek()] == ["a", "c"]
    assert (await queue.stats()).ready == 2
    assert [j.payload for j in await queue.get_many(5)] == ["a", "c"]


async def test_cancel_at_the_head_the_middle_and_the_tail_keeps_the_other_ready_jobs(
    queue: RedisJobQueue,
) -> None:
    ids = await queue.put_many([f"j{i}" for i in range(7)])
    for i in (6, 0, 3, 5):  # the tail, the head, nearer the head, nearer the tail
        assert await queue.cancel(ids[i]) is True
    assert [w.payload for w in await queue.peek()] == ["j1", "j2", "j4"]
    assert (await queue.stats()).ready == 3
    assert await queue.put("j6") == ids[6]  # gone: queued again, at the end
    assert [j.payload for j in await queue.get_many(10)] == ["j1", "j2", "j4", "j6"]


async def test_purge_removes_ready_and_delayed_jobs(queue: RedisJobQueue) -> None:
    await queue.put_many(["a", "b"])
    await queue.put("later", delay=60)
    assert await queue.purge() == 3
    assert await queue.stats() == QueueStats(ready=0, locked=0, delayed=0, dead=0)
    assert await queue.peek() == []
    assert await queue.get() is None
    assert await queue.put("a")  # no duplicate left behind


async def test_requeued_dead_letters_wait_in_the_order_they_died(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue(max_deliveries=1)
    await queue.put_many(["x", "y"])
    for job in await queue.get_many(2):
        await job.release()
    await queue.put("z")
    assert await queue.requeue_dead() == 2
    assert [j.payload for j in await queue.get_many(5)] == ["z", "x", "y"]


async def test_pages_of_ready_jobs_follow_the_order_get_takes(queue: RedisJobQueue) -> None:
    await queue.put_many([f"d{i}" for i in range(3)], delay=0.1)
    due_at = await server_time_us(queue.redis) + 100_000
    await queue.put_many([f"r{i}" for i in range(4)])
    await server_clock_passes(queue.redis, due_at)
    await queue.put_many([f"s{i}" for i in range(3)])
    await queue.put("later", delay=60)
    order = ["r0", "r1", "r2", "r3", "d0", "d1", "d2", "s0", "s1", "s2"]
    scripts = Scripts(queue.redis, queue.keys)

    for size in (1, 3, 4, 10, 20):
        pages = []
        for start in range(0, 12, size):
            page = await scripts.page("waiting", "due", start, size, 100)
            assert page.total == 10
            pages.extend(page.entries)
        assert [_payload(e.preview) for e in pages] == order, size
    later = await scripts.page("waiting", "later", 0, 10, 100)
    assert (later.total, [_payload(e.preview) for e in later.entries]) == (1, ["later"])
    every = await scripts.page("waiting", "all", 8, 10, 100)
    assert (every.total, [_payload(e.preview) for e in every.entries]) == (
        11,
        ["s1", "s2", "later"],
    )


def _payload(preview: bytes | str) -> str:
    text = preview.decode() if isinstance(preview, bytes) else preview
    return str(text).strip('"')


# -- queues written before the ready list ---------------------------------------------------


async def _put_as_before(queue: RedisJobQueue, payload: object, due_us: int) -> str:
    """Queue ``payload`` as versions before the ready list did: in the waiting zset only."""
    job = job_id(payload)
    await queue.redis.hset(queue.keys.payloads, bytes.fromhex(job), encode(payload))
    await queue.redis.zadd(queue.keys.waiting, {bytes.fromhex(job): due_us})
    await queue.redis.set(queue.keys.marker, due_us, nx=True)
    return job


async def test_jobs_queued_by_the_old_layout_are_still_taken_in_order(
    queue: RedisJobQueue,
) -> None:
    now = await server_time_us(queue.redis)
    old = await _put_as_before(queue, "old", now - 1_000)
    old_later = await _put_as_before(queue, "old later", now + 60_000_000)
    new = await queue.put("new")

    assert await queue.stats() == QueueStats(ready=2, locked=0, delayed=1, dead=0)
    status = await queue.status(old)
    assert status is not None and status.state == "waiting"
    assert status.due_at == (now - 1_000) / 1e6
    assert [w.id for w in await queue.peek()] == [old, new, old_later]
    with pytest.raises(DuplicateJobError):
        await queue.put("old")

    jobs = await queue.get_many(5)
    assert [(j.id, j.payload) for j in jobs] == [(old, "old"), (new, "new")]
    await jobs[0].complete()
    assert await queue.put("old") == old  # gone, so it can be queued again
    assert await queue.cancel(old_later) is True
    assert [w.id for w in await queue.peek()] == [old]


# -- memory -----------------------------------------------------------------------------------


@pytest.mark.real_redis
async def test_a_queued_job_costs_at_most_150_bytes_beyond_its_payload() -> None:
    n = 10_000
    payloads = [{"i": i, "pad": "x" * (100 - len(encode({"i": i, "pad": ""})))} for i in range(n)]
    payload_bytes = sum(len(encode(p)) for p in payloads) / n
    assert payload_bytes == 100
    with RedisServer() as server:  # its own server: nothing else moves used_memory
        async with RedisJobQueue("memory", url=server.url) as queue:
            client = redis.asyncio.Redis.from_url(server.url)
            try:
                await queue.put("warm up")  # the scripts and keys exist before the measure
                before = int((await client.info("memory"))["used_memory"])
                for start in range(0, n, 1000):
                    await queue.put_many(payloads[start : start + 1000])
                after = int((await client.info("memory"))["used_memory"])
            finally:
                await client.aclose()
            assert (await queue.stats()).ready == n + 1
    per_job = (after - before) / n - payload_bytes
    assert per_job <= MAX_BYTES_PER_JOB, f"{per_job:.0f} bytes per job beyond its payload"
