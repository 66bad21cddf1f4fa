"""The queue's contract, on a real redis-server and on fakeredis alike."""

from __future__ import annotations

import asyncio

import pytest
from conftest import MakeQueue
from deployments import every_deployment
from helpers import PATIENCE, eventually, server_clock_passes, server_time_us

from aioredisjobqueue import (
    DuplicateJobError,
    Job,
    LockLostError,
    QueueStats,
    RedisJobQueue,
    job_id,
)

# the contract: every test here runs on one node, fakeredis, a Redis Cluster and Sentinel
backend = every_deployment


async def test_put_returns_the_content_id(queue: RedisJobQueue) -> None:
    assert await queue.put({"to": "a@b.c", "n": 1}) == job_id({"n": 1, "to": "a@b.c"})


async def test_get_returns_the_payload_locked(queue: RedisJobQueue) -> None:
    await queue.put({"to": "a@b.c"})
    job = await queue.get(lock_timeout=5000)
    assert job is not None
    assert job.payload == {"to": "a@b.c"}
    assert job.get() == {"to": "a@b.c"}
    assert job.id == job_id({"to": "a@b.c"})
    assert job.deliveries == 1
    assert job.queue is queue
    assert (await queue.stats()).locked == 1


async def test_get_on_an_empty_queue_returns_none_at_once(queue: RedisJobQueue) -> None:
    assert await queue.get() is None
    assert await queue.get_many(10) == []


async def test_equal_content_cannot_be_queued_twice(queue: RedisJobQueue) -> None:
    first = await queue.put({"a": 1, "b": [1, 2]})
    with pytest.raises(DuplicateJobError) as caught:
        await queue.put({"b": [1, 2], "a": 1})
    assert caught.value.job_id == first
    assert caught.value.queue_name == queue.name
    assert (await queue.stats()).ready == 1


async def test_a_rejected_duplicate_keeps_its_place_in_line(queue: RedisJobQueue) -> None:
    await queue.put("first")
    await queue.put("second")
    with pytest.raises(DuplicateJobError):
        await queue.put("first")
    jobs = await queue.get_many(2)
    assert [j.payload for j in jobs] == ["first", "second"]


async def test_duplicate_while_locked_and_put_again_after_complete(queue: RedisJobQueue) -> None:
    await queue.put("x")
    job = await queue.get()
    assert job is not None
    with pytest.raises(DuplicateJobError):
        await queue.put("x")
    await job.complete()
    assert await queue.put("x") == job.id


async def test_jobs_come_out_in_the_order_they_went_in(queue: RedisJobQueue) -> None:
    for i in range(5):
        await queue.put(i)
    await queue.put_many([5, 6, 7, 8, 9])
    taken = [j.payload for j in await queue.get_many(100)]
    assert taken == list(range(10))


async def test_put_many_reports_duplicates_as_none(queue: RedisJobQueue) -> None:
    await queue.put("queued")
    ids = await queue.put_many(["a", "queued", "b", "a", {"k": 1}])
    assert ids == [job_id("a"), None, job_id("b"), None, job_id({"k": 1})]
    assert (await queue.stats()).ready == 4
    assert await queue.put_many([]) == []


async def test_a_bad_payload_in_put_many_queues_nothing(queue: RedisJobQueue) -> None:
    with pytest.raises(TypeError, match=r"payloads\[1\]"):
        await queue.put_many(["ok", {1, 2}])
    assert (await queue.stats()).total == 0


async def test_a_locked_job_is_not_handed_out_again(make_queue: MakeQueue) -> None:
    a, b = make_queue(), make_queue()
    await a.put("only")
    assert await a.get(lock_timeout=5000) is not None
    assert await b.get(lock_timeout=5000) is None
    assert await a.get(lock_timeout=5000) is None


async def test_an_expired_lock_lets_another_consumer_take_the_job(make_queue: MakeQueue) -> None:
    a, b = make_queue(), make_queue()
    await a.put("job")
    first = await a.get(lock_timeout=50)
    assert first is not None

    async def due_again() -> bool:
        return (await b.stats()).ready == 1

    await eventually(due_again, "the lock to expire")
    second = await b.get(lock_timeout=5000)
    assert second is not None
    assert second.id == first.id
    assert second.deliveries == 2


async def test_complete_removes_the_job_for_good(queue: RedisJobQueue) -> None:
    await queue.put("job")
    job = await queue.get(lock_timeout=50)
    assert job is not None
    await job.complete()
    # past the time its lock would have expired, it does not come back
    await server_clock_passes(queue.redis, await server_time_us(queue.redis) + 50_000)
    assert await queue.get() is None
    assert (await queue.stats()).total == 0


async def test_late_complete_raises_lock_lost_and_leaves_the_new_holder(
    make_queue: MakeQueue,
) -> None:
    a, b = make_queue(), make_queue()
    await a.put("job")
    stale = await a.get(lock_timeout=50)
    assert stale is not None
    holder = await eventually(lambda: b.get(lock_timeout=5000), "the lock to expire")
    with pytest.raises(LockLostError) as caught:
        await stale.complete()
    assert caught.value.job_id == stale.id
    with pytest.raises(LockLostError):
        await stale.extend(lock_timeout=5000)
    with pytest.raises(LockLostError):
        await stale.release()
    stats = await b.stats()
    assert (stats.locked, stats.ready) == (1, 0)
    await holder.complete()
    assert (await b.stats()).total == 0


async def test_complete_twice_raises_lock_lost(queue: RedisJobQueue) -> None:
    await queue.put("job")
    job = await queue.get()
    assert job is not None
    await queue.complete(job)
    with pytest.raises(LockLostError):
        await queue.complete(job)


async def test_complete_after_expiry_succeeds_while_nobody_took_it(queue: RedisJobQueue) -> None:
    await queue.put("job")
    job = await queue.get(lock_timeout=30)
    assert job is not None

    async def expired() -> bool:
        return (await queue.stats()).ready == 1

    await eventually(expired, "the lock to expire")
    await job.complete()
    assert (await queue.stats()).total == 0


async def test_extend_keeps_the_lock_past_its_first_expiry(make_queue: MakeQueue) -> None:
    a, b = make_queue(), make_queue()
    await a.put("job")
    job = await a.get(lock_timeout=100)
    assert job is not None
    first_expiry = await server_time_us(a.redis) + 100_000
    await job.extend(lock_timeout=5000)
    await server_clock_passes(a.redis, first_expiry)
    assert await b.get() is None
    await job.complete()


async def test_release_makes_the_job_due_again_at_once(make_queue: MakeQueue) -> None:
    a, b = make_queue(), make_queue()
    await a.put("job")
    job = await a.get(lock_timeout=60_000)
    assert job is not None
    await job.release()
    again = await b.get()
    assert again is not None
    assert again.id == job.id
    assert again.deliveries == 2
    with pytest.raises(LockLostError):
        await job.complete()


async def test_release_with_delay_holds_the_job_back(queue: RedisJobQueue) -> None:
    await queue.put("job")
    job = await queue.get(lock_timeout=60_000)
    assert job is not None
    released_at = await server_time_us(queue.redis)
    await queue.release(job, delay=0.2)
    (waiting,) = await queue.peek()
    assert waiting.due_at * 1e6 >= released_at + 200_000
    assert (await queue.stats()).locked == 0
    again = await eventually(queue.get, "the delay to pass")
    assert await server_time_us(queue.redis) >= waiting.due_at * 1e6
    assert again.deliveries == 2


async def test_delayed_job_waits_and_stays_unique(queue: RedisJobQueue) -> None:
    await queue.put("now")
    put_at = await server_time_us(queue.redis)
    await queue.put("later", delay=0.25)
    with pytest.raises(DuplicateJobError):
        await queue.put("later")
    assert [w.payload for w in await queue.peek()] == ["now", "later"]
    due_at = (await queue.peek())[1].due_at * 1e6
    assert due_at >= put_at + 250_000
    assert [j.payload for j in await queue.get_many(1)] == ["now"]
    late = await eventually(queue.get, "the delay to pass")
    assert await server_time_us(queue.redis) >= due_at
    assert late.payload == "later"


async def test_get_many_takes_at_most_count(queue: RedisJobQueue) -> None:
    await queue.put_many(range(10))
    first = await queue.get_many(4, lock_timeout=5000)
    rest = await queue.get_many(100, lock_timeout=5000)
    assert [j.payload for j in first] == [0, 1, 2, 3]
    assert [j.payload for j in rest] == [4, 5, 6, 7, 8, 9]
    assert len({j.token for j in first}) == 1
    assert first[0].token != rest[0].token


async def test_jobs_delivered_max_deliveries_times_go_to_the_dead_letters(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue(max_deliveries=2)
    await queue.put({"poison": True})
    for expected in (1, 2):
        job = await eventually(lambda: queue.get(lock_timeout=30), "the lock to expire")
        assert (job.payload, job.deliveries) == ({"poison": True}, expected)

    async def dead() -> bool:
        # the second lock expired: the next look moves it to the dead letters
        return await queue.get() is None and (await queue.stats()).dead == 1

    await eventually(dead, "the second lock to expire")
    await queue.put("fine")
    fine = await queue.get(lock_timeout=5000)
    assert fine is not None
    assert fine.payload == "fine"
    assert await queue.get() is None
    assert (await queue.stats()).dead == 1
    (dead,) = await queue.dead_letters()
    assert (dead.id, dead.payload, dead.deliveries) == (
        job_id({"poison": True}),
        {"poison": True},
        2,
    )
    assert dead.died_at > 1.7e9
    with pytest.raises(DuplicateJobError):
        await queue.put({"poison": True})


async def test_release_after_the_last_delivery_dead_letters_at_once(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=1)
    await queue.put("job")
    job = await queue.get()
    assert job is not None
    await job.release()
    stats = await queue.stats()
    assert (stats.dead, stats.ready) == (1, 0)


async def test_requeue_dead_puts_jobs_back_with_fresh_deliveries(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=1)
    await queue.put_many(["a", "b", "c"])
    for job in await queue.get_many(3):
        await job.release()
    assert [d.payload for d in await queue.dead_letters()] == ["a", "b", "c"]
    assert [d.payload for d in await queue.dead_letters(limit=2)] == ["a", "b"]
    assert await queue.requeue_dead([job_id("b"), "0" * 24]) == 1
    assert await queue.requeue_dead([]) == 0
    job = await queue.get()
    assert job is not None
    assert (job.payload, job.deliveries) == ("b", 1)
    assert await queue.requeue_dead() == 2
    assert [j.payload for j in await queue.get_many(5)] == ["a", "c"]
    assert (await queue.stats()).dead == 0


async def test_consume_yields_jobs_put_while_it_waits(queue: RedisJobQueue) -> None:
    seen: list[str] = []

    async def consumer() -> None:
        async for job in queue.consume(lock_timeout=5000, min_interval=0.005, max_interval=0.05):
            seen.append(job.payload)
            await job.complete()
            if len(seen) == 3:
                return

    task = asyncio.create_task(consumer())
    await asyncio.sleep(0.1)
    for item in ("a", "b", "c"):
        await queue.put(item)
        await asyncio.sleep(0.02)
    await asyncio.wait_for(task, PATIENCE)
    assert seen == ["a", "b", "c"]


async def test_async_for_over_the_queue_consumes(queue: RedisJobQueue) -> None:
    await queue.put_many([1, 2])
    got = []
    async for job in queue:
        got.append(job.payload)
        await job.complete()
        if len(got) == 2:
            break
    assert got == [1, 2]


async def test_consume_backs_off_when_idle_without_hand_off(
    make_real_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # with 3 connections a queue has no hand-off inbox, whose reads would be the polls
    # (test_handoff counts those): its consumers poll by themselves
    queue = make_real_queue(max_connections=3)
    calls = 0
    real_get = queue.get_many

    async def counting_get_many(count: int, *, lock_timeout: float = 1000) -> list[Job]:
        nonlocal calls
        calls += 1
        return await real_get(count, lock_timeout=lock_timeout)

    monkeypatch.setattr(queue, "get_many", counting_get_many)

    async def consume() -> None:
        async for _ in queue.consume(min_interval=0.001, max_interval=0.1):
            pass

    started = asyncio.get_running_loop().time()
    task = asyncio.create_task(consume())
    await eventually(lambda: calls >= 30, "30 polls", watch=[task])
    elapsed = asyncio.get_running_loop().time() - started
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # at the 1 ms minimum 30 polls take some 30 ms; backing off towards 100 ms (a draw of
    # 1-100 ms each), the last 22 alone take 1.1 s give or take 0.13 s, so 0.3 s is 6
    # deviations away; a loaded machine only slows it
    assert elapsed > 0.3


async def test_a_cancelled_consumer_releases_nothing_it_handed_out(queue: RedisJobQueue) -> None:
    await queue.put("job")
    got: list[Job] = []
    handed_out = asyncio.Event()

    async def consume() -> None:
        async for job in queue.consume(lock_timeout=60_000, min_interval=0.001):
            got.append(job)
            handed_out.set()
            await asyncio.sleep(10)

    task = asyncio.create_task(consume())
    await asyncio.wait_for(handed_out.wait(), PATIENCE)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    # the job it handed out stays locked by its holder, who may still complete it
    assert (await queue.stats()).locked == 1
    await got[0].complete()


async def test_stats_counts_each_state(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=1)
    await queue.put_many(["r1", "r2", "l1", "dead"])
    await queue.put("d1", delay=60)
    jobs = await queue.get_many(2, lock_timeout=60_000)  # r1, r2
    await jobs[0].release()  # r1 -> dead (max_deliveries=1)
    stats = await queue.stats()
    assert (stats.ready, stats.locked, stats.delayed, stats.dead) == (2, 1, 1, 1)
    assert stats.total == 5


async def test_queues_with_different_names_are_separate(make_queue: MakeQueue) -> None:
    a, b = make_queue("queue-a-" + make_queue().name), make_queue("queue-b-" + make_queue().name)
    await a.put("same")
    await b.put("same")
    job = await b.get()
    assert job is not None
    await job.complete()
    assert (await a.stats()).ready == 1


async def test_locks_and_delays_go_by_the_server_clock_whatever_the_client_clock(
    real_queue: RedisJobQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the real server only: fakeredis's server clock is this process's clock. The client's
    # wall clock runs an hour ahead: a library that read it for a lock or a due time would
    # store times an hour off, and hand out the locked job as expired.
    import time

    real_time = time.time
    monkeypatch.setattr(time, "time", lambda: real_time() + 3600.0)
    redis = real_queue.redis
    seconds, micros = await redis.time()
    before_us = int(seconds) * 1_000_000 + int(micros)
    await real_queue.put("locked")
    await real_queue.put("delayed", delay=60)
    job = await real_queue.get(lock_timeout=60_000)
    assert job is not None and job.payload == "locked"
    seconds, micros = await redis.time()
    after_us = int(seconds) * 1_000_000 + int(micros)
    lock_expiry = await redis.zscore(real_queue.keys.locked, bytes.fromhex(job.id))
    due = await redis.zscore(real_queue.keys.waiting, bytes.fromhex(job_id("delayed")))
    minute = 60_000_000
    assert before_us + minute <= lock_expiry <= after_us + minute
    assert before_us + minute <= due <= after_us + minute
    assert await real_queue.get() is None
    assert await real_queue.stats() == QueueStats(ready=0, locked=1, delayed=1, dead=0)


async def test_purge_removes_every_job_in_every_state(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=1)
    await queue.put_many(["locked", "dead", "ready"])
    await queue.put("delayed", delay=60)
    locked, dead = await queue.get_many(2, lock_timeout=60_000)
    await dead.release()  # dead-lettered
    assert await queue.stats() == QueueStats(ready=1, locked=1, delayed=1, dead=1)
    assert await queue.purge() == 4
    assert await queue.stats() == QueueStats(ready=0, locked=0, delayed=0, dead=0)
    assert await queue.redis.exists(*queue.keys.all()) == 0
    with pytest.raises(LockLostError):
        await locked.complete()
    assert await queue.put("ready") == job_id("ready")
    assert await queue.purge() == 1
