"""Clients made with ``decode_responses=True`` work: job ids are 12 raw bytes in Redis, which
the queue reads undecoded whatever the client's setting."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import fakeredis
import pytest
import redis.asyncio as aioredis

from aioredisjobqueue import Job, RedisJobQueue
from aioredisjobqueue.testing import RedisServer, drain


def not_utf8(job_id: str) -> bool:
    try:
        bytes.fromhex(job_id).decode()
    except UnicodeDecodeError:
        return True
    return False


@pytest.fixture
async def decoding_client(backend: str, request: pytest.FixtureRequest) -> AsyncIterator[Any]:
    """A client of the user's, made with decode_responses=True, on this test's backend."""
    if backend == "redis":
        server: RedisServer = request.getfixturevalue("redis_server")
        client: Any = aioredis.Redis.from_url(server.url, decode_responses=True)
    else:
        client = fakeredis.FakeAsyncRedis(decode_responses=True)
    yield client
    await client.aclose()


async def test_every_call_works_on_a_decoding_client(decoding_client: Any, queue_name: str) -> None:
    async with RedisJobQueue(queue_name, redis=decoding_client, max_deliveries=1) as queue:
        ids = await queue.put_many([{"n": n} for n in range(40)])
        assert any(not_utf8(i) for i in ids if i)  # the ids a decoding client cannot read

        peeked = await queue.peek(40)
        assert sorted(p.id for p in peeked) == sorted(i for i in ids if i)
        assert {p.payload["n"] for p in peeked} == set(range(40))

        jobs = await queue.get_many(40, lock_timeout=10_000)
        assert sorted(job.id for job in jobs) == sorted(i for i in ids if i)
        assert all(isinstance(job.payload, dict) for job in jobs)
        for job in jobs[:20]:
            await job.complete()
        for job in jobs[20:]:
            await job.release()  # max_deliveries=1: to the dead letters

        dead = await queue.dead_letters()
        assert sorted(d.id for d in dead) == sorted(job.id for job in jobs[20:])
        assert await queue.requeue_dead([dead[0].id]) == 1
        stats = await queue.stats()
        assert (stats.ready, stats.locked, stats.delayed, stats.dead) == (1, 0, 0, 19)

        assert await queue.purge() == 20
        # the user's client itself still decodes its own replies
        await decoding_client.set(f"{queue_name}:plain", "text")
        assert await decoding_client.get(f"{queue_name}:plain") == "text"
        await decoding_client.delete(f"{queue_name}:plain")


async def test_consume_and_a_worker_on_a_decoding_client(
    decoding_client: Any, queue_name: str
) -> None:
    async with RedisJobQueue(queue_name, redis=decoding_client) as queue:
        await queue.put("first")
        async with asyncio.timeout(10):
            async for job in queue.consume(lock_timeout=5_000):
                assert job.payload == "first"
                await job.complete()
                break

        await queue.put_many([f"job {n}" for n in range(10)])
        seen: list[str] = []

        async def handler(job: Job) -> None:
            seen.append(job.payload)

        result = await drain(queue, handler)
        assert result.completed == 10
        assert sorted(seen) == sorted(f"job {n}" for n in range(10))


@pytest.mark.real_redis
async def test_a_url_asking_for_decoding_gives_a_working_queue(
    redis_server: RedisServer, queue_name: str
) -> None:
    # the queue's own pool, pipelined connection included, made with decode_responses
    url = f"{redis_server.url}?decode_responses=true"
    async with RedisJobQueue(queue_name, url=url) as queue:
        assert queue.redis.get_encoder().decode_responses
        await queue.put_many(list(range(30)))
        jobs = await queue.get_many(30)
        assert sorted(job.payload for job in jobs) == list(range(30))
        for job in jobs:
            await job.complete()
        assert (await queue.stats()).total == 0


@pytest.mark.real_redis
async def test_a_script_the_server_forgot_is_loaded_again_on_a_decoding_client(
    redis_server: RedisServer, queue_name: str
) -> None:
    async with (
        aioredis.Redis.from_url(redis_server.url, decode_responses=True) as client,
        RedisJobQueue(queue_name, redis=client) as queue,
    ):
        await queue.put("before")
        await client.script_flush()
        await queue.put("after")
        jobs = await queue.get_many(2)
        assert sorted(job.payload for job in jobs) == ["after", "before"]
