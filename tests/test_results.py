"""Results: kept by complete(result=...), awaited by result() without polling."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeQueue
from deployments import every_deployment
from helpers import eventually

from aioredisjobqueue import (
    DeadJobError,
    Job,
    JobNotFoundError,
    RedisJobQueue,
    Worker,
    job_id,
)
from aioredisjobqueue.testing import RedisServer

# the contract: every test here runs on one node, fakeredis, a Redis Cluster and Sentinel
backend = every_deployment


async def take(queue: RedisJobQueue) -> Job:
    job = await queue.get(lock_timeout=60_000)
    assert job is not None
    return job


def count_looks(queue: RedisJobQueue) -> list[str]:
    """Record each look result() takes at Redis (one script call each)."""
    looks: list[str] = []
    scripts = queue._scripts
    original = scripts.result

    async def result(job_id: str) -> Any:
        looks.append(job_id)
        return await original(job_id)

    scripts.result = result  # type: ignore[method-assign]
    return looks


async def test_a_result_awaited_while_a_consumer_completes_the_job(make_queue: MakeQueue) -> None:
    waiter, consumer = make_queue(), make_queue()  # as two processes
    put = await waiter.put({"to": "a@b.c"})
    looks = count_looks(waiter)
    waiting = asyncio.create_task(waiter.result(put, timeout=30))

    async def work() -> None:
        async for job in consumer.consume(lock_timeout=60_000):
            await job.complete(result={"sent": job.payload["to"]})
            return

    await work()
    assert await waiting == {"sent": "a@b.c"}
    assert len(looks) in (1, 2)  # before and after the announcement, not in a loop
    assert await waiter.result(put) == {"sent": "a@b.c"}  # kept: at once


async def test_result_does_not_poll_while_it_waits(queue: RedisJobQueue) -> None:
    await queue.put("other")
    put = await queue.put("never done")
    looks = count_looks(queue)
    waiting = asyncio.create_task(queue.result(put, timeout=0.5))
    await (await take(queue)).complete(result=1)  # another job is announced
    with pytest.raises(TimeoutError):
        await waiting
    assert looks == [put]  # one look: no polling, and no look for the other job


async def test_many_waiters_get_the_result(make_queue: MakeQueue) -> None:
    a, b = make_queue(), make_queue()
    put = await a.put("shared")
    waiting = [asyncio.create_task(q.result(put, timeout=30)) for q in (a, a, b)]
    await (await take(b)).complete(result=None)  # None is a result too
    assert await asyncio.gather(*waiting) == [None, None, None]
    status = await a.status(put)
    assert status is not None and status.state == "completed"


async def test_unknown_dead_and_cancelled_jobs_raise(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=1)
    with pytest.raises(JobNotFoundError) as unknown:
        await queue.result(job_id("never put"))
    assert unknown.value.job_id == job_id("never put")

    put = await queue.put("doomed")
    waiting = asyncio.create_task(queue.result(put, timeout=30))
    await (await take(queue)).release(error="ValueError: bad input")  # the last delivery
    with pytest.raises(DeadJobError) as dead:
        await waiting
    assert (dead.value.job_id, dead.value.error) == (put, "ValueError: bad input")
    with pytest.raises(DeadJobError):
        await queue.result(put)

    cancelled = await queue.put("cancelled")
    waiting = asyncio.create_task(queue.result(cancelled, timeout=30))
    await asyncio.sleep(0)  # let it start waiting (it raises either way)
    assert await queue.cancel(cancelled)
    with pytest.raises(JobNotFoundError):
        await waiting

    plain = await queue.put("no result")
    await (await take(queue)).complete()
    with pytest.raises(JobNotFoundError):
        await queue.result(plain)


async def test_a_result_never_blocks_a_reput_and_the_new_run_is_awaited(
    queue: RedisJobQueue,
) -> None:
    put = await queue.put("same")
    await (await take(queue)).complete(result="first")
    assert await queue.put("same") == put  # the kept result blocks nothing
    with pytest.raises(TimeoutError):
        await queue.result(put, timeout=0.1)  # the job runs again: its result is pending
    waiting = asyncio.create_task(queue.result(put, timeout=30))
    await (await take(queue)).complete(result="second")
    assert await waiting == "second"


async def test_results_expire(make_queue: MakeQueue) -> None:
    queue = make_queue(result_ttl=120)
    kept, short = await queue.put("kept"), await queue.put("short")
    await (await take(queue)).complete(result=1)
    await (await take(queue)).complete(result=2, result_ttl=0.05)
    assert 100_000 < await queue.redis.pttl(queue.keys.result(kept)) <= 120_000

    async def expired() -> bool:
        return await queue.status(short) is None

    await eventually(expired, "the result to expire")
    with pytest.raises(JobNotFoundError):
        await queue.result(short)
    assert await queue.result(kept) == 1


async def test_bad_results_and_ttls_raise_before_redis(make_queue: MakeQueue) -> None:
    with pytest.raises(ValueError, match="result_ttl must be a positive number of seconds"):
        make_queue(result_ttl=0)
    queue = make_queue(max_payload_bytes=100)
    put = await queue.put("x")
    job = await take(queue)
    with pytest.raises(TypeError, match="result is not JSON-serializable"):
        await job.complete(result={1, 2})
    with pytest.raises(ValueError, match="result is 1003 bytes as JSON, over max_payload_bytes"):
        await job.complete(result="x" * 1001)
    with pytest.raises(ValueError, match="result_ttl must be a positive number"):
        await job.complete(result=1, result_ttl=-1)
    with pytest.raises(ValueError, match="timeout must be >= 0 seconds"):
        await queue.result(put, timeout=-1)
    status = await queue.status(put)
    assert status is not None and status.state == "locked"  # nothing happened


async def test_a_result_awaited_while_a_worker_completes_the_job(real_queue: RedisJobQueue) -> None:
    async def handler(job: Job) -> dict[str, Any]:
        return {"doubled": job.payload * 2}

    put = await real_queue.put(21)
    waiting = asyncio.create_task(real_queue.result(put, timeout=30))
    worker = Worker(real_queue, handler, results=True)
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(worker.run())
        assert await waiting == {"doubled": 42}
        worker.stop()
        await run
    status = await real_queue.status(put)
    assert status is not None and (status.state, status.deliveries) == ("completed", 1)


async def test_a_zero_timeout_looks_once(queue: RedisJobQueue) -> None:
    put = await queue.put("quick")
    with pytest.raises(TimeoutError):
        await queue.result(put, timeout=0)
    await (await take(queue)).complete(result="there")
    assert await queue.result(put, timeout=0) == "there"


async def test_a_dead_letter_made_by_get_ends_the_wait(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=1)
    put = await queue.put("abandoned")
    assert await queue.get(lock_timeout=50) is not None  # its consumer dies holding it
    waiting = asyncio.create_task(queue.result(put, timeout=30))

    async def dead() -> bool:
        await queue.get()  # after the lock expired: its last delivery is spent
        return (await queue.stats()).dead == 1

    await eventually(dead, "the lock to expire")
    with pytest.raises(DeadJobError):
        await waiting


@pytest.mark.real_redis
async def test_a_waiter_rides_out_a_redis_restart(tmp_path: Path, queue_name: str) -> None:
    with RedisServer(tmp_path / "data", appendonly=True) as server:
        async with RedisJobQueue(queue_name, url=server.url) as waiter:
            put = await waiter.put("survives")
            looks = count_looks(waiter)
            waiting = asyncio.create_task(waiter.result(put, timeout=60))
            await eventually(lambda: len(looks) == 1, "the first look", watch=[waiting])
            await asyncio.to_thread(server.restart)
            async with RedisJobQueue(queue_name, url=server.url) as worker:
                job = await worker.get(lock_timeout=60_000)
                assert job is not None
                await job.complete(result="after the restart")
            assert await waiting == "after the restart"


async def test_without_a_subscription_a_waiter_looks_with_backoff(
    real_jobqueue_factory: Any, queue_name: str
) -> None:
    # a pool of 2 connections keeps none for subscriptions: result() looks with backoff
    small = real_jobqueue_factory(queue_name, max_connections=2)
    other = real_jobqueue_factory(queue_name)
    put = await small.put("no pub/sub")
    looks = count_looks(small)
    waiting = asyncio.create_task(small.result(put, timeout=30))
    await eventually(lambda: len(looks) >= 3, "a few looks", watch=[waiting])
    await (await take(other)).complete(result="found by looking")
    assert await waiting == "found by looking"
