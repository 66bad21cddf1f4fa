"""How calls share round trips and connections: group commit, pipelining and wake-ups."""

from __future__ import annotations

import asyncio
import contextlib

import redis.asyncio as aioredis
from conftest import MakeQueue
from helpers import eventually

from aioredisjobqueue import Job, QueueStats, RedisJobQueue, job_id
from aioredisjobqueue.testing import RedisServer


async def _evalsha_calls(r: aioredis.Redis) -> int:
    stats = await r.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def test_concurrent_puts_and_completes_share_script_calls(real_queue: RedisJobQueue) -> None:
    admin = real_queue.redis
    before = await _evalsha_calls(admin)
    ids = await asyncio.gather(*(real_queue.put({"n": n}) for n in range(200)))
    assert sorted(ids) == sorted(job_id({"n": n}) for n in range(200))
    # 200 puts as the queue object's first calls, a few script calls: its shards check,
    # then the puts (the first goes alone, the rest share calls while it runs). The callers
    # that waited for the first-call checks (what the queue runs on, its shards) go on
    # together, in one turn of the event loop, not one turn each in waves
    puts = await _evalsha_calls(admin) - before
    assert 1 <= puts <= 6
    jobs = await real_queue.get_many(200, lock_timeout=30_000)
    before = await _evalsha_calls(admin)
    await asyncio.gather(*(job.complete() for job in jobs))
    completes = await _evalsha_calls(admin) - before
    assert 1 <= completes <= 20
    assert (await real_queue.stats()).total == 0


async def test_concurrent_gets_hand_out_each_job_once(queue: RedisJobQueue) -> None:
    await queue.put_many(range(100))
    taken = await asyncio.gather(*(queue.get(lock_timeout=30_000) for _ in range(150)))
    jobs = [j for j in taken if j is not None]
    assert sorted(j.payload for j in jobs) == list(range(100))
    assert (await queue.stats()).locked == 100


async def test_jobs_taken_for_cancelled_callers_are_given_back_at_once(
    queue: RedisJobQueue,
) -> None:
    await queue.put_many(range(60))
    for _ in range(5):
        tasks = [asyncio.create_task(queue.get(lock_timeout=60_000)) for _ in range(30)]
        await asyncio.sleep(0)
        for task in tasks[1::2]:
            task.cancel()
        results = await asyncio.gather(*tasks, return_exceptions=True)
        for job in results:
            if not isinstance(job, BaseException) and job is not None:
                await job.complete()

    # jobs taken for the cancelled callers come back at once, not after their 60 s locks
    async def none_locked() -> QueueStats | None:
        stats = await queue.stats()
        return None if stats.locked else stats

    stats = await eventually(none_locked, "the jobs to be given back")
    assert stats.ready == stats.total
    # and they come back uncounted: they never reached a consumer
    rest = await queue.get_many(100, lock_timeout=60_000)
    assert len(rest) == stats.ready
    assert {job.deliveries for job in rest} <= {1}


async def test_an_idle_consumer_is_woken_by_a_released_job(make_queue: MakeQueue) -> None:
    consumer_queue, producer_queue = make_queue(), make_queue()
    await producer_queue.put("wake up")
    (taken,) = await producer_queue.get_many(1, lock_timeout=60_000)
    got = asyncio.Event()
    looks = 0  # get_many calls that returned
    real_get_many = consumer_queue.get_many

    async def counting_get_many(count: int, *, lock_timeout: float = 1000) -> list[Job]:
        nonlocal looks
        try:
            return await real_get_many(count, lock_timeout=lock_timeout)
        finally:
            looks += 1

    consumer_queue.get_many = counting_get_many  # type: ignore[method-assign]

    async def consume() -> None:
        # without a wake-up, it looks again only after 60 s
        async for job in consumer_queue.consume(min_interval=60.0, max_interval=60.0):
            await job.complete()
            got.set()

    task = asyncio.create_task(consume())
    try:
        # its first look finds nothing; its subscription coming up makes it look once more,
        # in case a job came before it listened; then it sleeps for 60 s
        await eventually(lambda: looks >= 2, "the consumer's two idle looks", watch=[task])
        assert looks == 2
        # a release (unlike a put, see test_handoff) is announced on the wake channel
        await taken.release()
        await asyncio.wait_for(got.wait(), 30)
        assert looks in (3, 4)  # the look that found it, and perhaps the next at once
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_consume_without_channel_access_falls_back_to_polling(
    redis_server: RedisServer, queue_name: str
) -> None:
    async with aioredis.Redis(port=redis_server.port) as admin:
        # a Redis 7 user with keys and commands but no pub/sub channels
        await admin.acl_setuser(
            "nochan",
            enabled=True,
            passwords=["+pw"],
            keys=["*"],
            commands=["+@all"],
            reset_channels=True,
        )
        try:
            url = f"redis://nochan:pw@127.0.0.1:{redis_server.port}/0"
            async with RedisJobQueue(queue_name, url=url) as queue:
                await queue.put("first")
                seen = []
                async for job in queue.consume(min_interval=0.01, max_interval=0.05):
                    seen.append(job.payload)
                    await job.complete()
                    if job.payload == "first":
                        await queue.put("second")
                    else:
                        break
                assert seen == ["first", "second"]
        finally:
            await admin.acl_deluser("nochan")


async def test_one_pipelined_connection_serves_many_concurrent_calls(
    redis_server: RedisServer, queue_name: str
) -> None:
    url = f"{redis_server.url}?client_name=pipe-{queue_name}"
    async with RedisJobQueue(queue_name, url=url, max_connections=2) as queue:
        await asyncio.gather(*(queue.put(n) for n in range(500)))
        await asyncio.gather(*(queue.stats() for _ in range(50)))
        async with aioredis.Redis(port=redis_server.port) as admin:
            ours = [c for c in await admin.client_list() if c["name"] == f"pipe-{queue_name}"]
        assert len(ours) == 1
        assert (await queue.stats()).ready == 500


async def test_a_call_cancelled_in_flight_leaves_the_connection_in_step(
    real_queue: RedisJobQueue,
) -> None:
    await real_queue.put_many(range(200))
    for n in range(50):
        task = asyncio.create_task(real_queue.stats())
        for _ in range(n % 3):
            await asyncio.sleep(0)
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        # every later reply still belongs to its own call
        stats = await real_queue.stats()
        assert (stats.ready, stats.total) == (200 + n, 200 + n)
        assert await real_queue.put_many([f"x{n}"]) == [job_id(f"x{n}")]
        job = await real_queue.get_many(1, lock_timeout=30_000)
        await job[0].release()


async def test_a_killed_connection_fails_calls_in_flight_and_the_next_call_reconnects(
    redis_server: RedisServer, queue_name: str
) -> None:
    url = f"{redis_server.url}?client_name=kill-{queue_name}"
    async with RedisJobQueue(queue_name, url=url) as queue:
        await queue.put("before")
        async with aioredis.Redis(port=redis_server.port) as admin:
            killed = await admin.client_kill_filter(skipme=True, _type="normal")
            assert killed >= 1
        # a call that was already on its way when the kill came may fail with it; then
        # the queue connects again by itself
        with contextlib.suppress(aioredis.ConnectionError):
            await queue.stats()
        stats = await queue.stats()
        assert stats.ready == 1
        await queue.put("after")
        assert (await queue.stats()).ready == 2
