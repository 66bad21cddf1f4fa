"""Connecting, the connection pool, key layout and the cost of get: real redis-server."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from redis.asyncio.connection import SSLConnection
from redis.crc import key_slot

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisServer


async def test_host_port_and_db_select_the_server_and_database(
    redis_server: RedisServer, queue_name: str
) -> None:
    async with RedisJobQueue(
        queue_name=queue_name, redis_host="127.0.0.1", redis_port=redis_server.port, redis_db=3
    ) as queue:
        await queue.put("in db 3")
    async with (
        aioredis.Redis(port=redis_server.port, db=3) as r3,
        aioredis.Redis(port=redis_server.port, db=0) as r0,
    ):
        assert await r3.exists(f"ajq:{{{queue_name}}}:payloads") == 1
        assert await r0.exists(f"ajq:{{{queue_name}}}:payloads") == 0
        await r3.flushdb()


async def test_url_with_user_and_password(redis_server: RedisServer, queue_name: str) -> None:
    async with aioredis.Redis(port=redis_server.port) as admin:
        await admin.acl_setuser(
            "jobs", enabled=True, passwords=["+s3cret"], keys=["*"], commands=["+@all"]
        )
        try:
            url = f"redis://jobs:s3cret@127.0.0.1:{redis_server.port}/0"
            async with RedisJobQueue(queue_name, url=url) as queue:
                await queue.put("authenticated")
                assert (await queue.stats()).ready == 1
            bad = f"redis://jobs:wrong@127.0.0.1:{redis_server.port}/0"
            async with RedisJobQueue(queue_name, url=bad) as queue:
                with pytest.raises(aioredis.AuthenticationError):
                    await queue.stats()
        finally:
            await admin.acl_deluser("jobs")


def test_rediss_url_makes_a_tls_pool() -> None:
    queue = RedisJobQueue("q", url="rediss://example.invalid:6380/0")
    assert queue.redis.connection_pool.connection_class is SSLConnection


async def test_a_given_client_is_used_and_never_closed(
    redis_server: RedisServer, queue_name: str
) -> None:
    client = aioredis.Redis.from_url(redis_server.url)
    async with RedisJobQueue(queue_name, redis=client) as queue:
        assert queue.redis is client
        await queue.put("x")
    assert await client.ping() is True
    await client.aclose()


async def test_all_consumers_of_a_queue_share_one_bounded_pool(
    redis_server: RedisServer, queue_name: str
) -> None:
    url = f"{redis_server.url}?client_name=pool-{queue_name}"
    async with RedisJobQueue(queue_name, url=url, max_connections=3) as queue:
        await queue.put_many(range(300))
        done = 0

        async def consume() -> None:
            nonlocal done
            async for job in queue.consume(lock_timeout=30_000, min_interval=0.001):
                await job.complete()
                done += 1
                if done >= 300:
                    return

        tasks = [asyncio.create_task(consume()) for _ in range(20)]
        _, pending = await asyncio.wait(tasks, timeout=30, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()
        await asyncio.gather(*pending, return_exceptions=True)
        assert done == 300
        async with aioredis.Redis(port=redis_server.port) as admin:
            clients = await admin.client_list()
        ours = [c for c in clients if c["name"] == f"pool-{queue_name}"]
        assert 1 <= len(ours) <= 3
    async with aioredis.Redis(port=redis_server.port) as admin:
        clients = await admin.client_list()
    assert not [c for c in clients if c["name"] == f"pool-{queue_name}"]


async def test_every_key_of_a_queue_shares_its_hash_tag(real_queue: RedisJobQueue) -> None:
    queue = RedisJobQueue(real_queue.name, redis=real_queue.redis, max_deliveries=1)
    await queue.put_many(["a", "b", "c", "e"])  # "e" stays in the ready list
    await queue.put("d", delay=60)
    a, b, _ = await queue.get_many(3, lock_timeout=60_000)
    await a.release(error="ValueError: boom")
    await b.complete(result={"ok": True})
    keys = [k.decode() async for k in queue.redis.scan_iter(match=f"ajq:{{{queue.name}}}:*")]
    expected = [*queue.keys.all(), queue.keys.marker, queue.keys.result(b.id)]
    assert sorted(keys) == sorted(expected)
    assert {key_slot(k.encode()) for k in keys} == {key_slot(queue.name.encode())}


async def _commands(r: aioredis.Redis) -> int:
    stats = await r.info("commandstats")
    return sum(int(v["calls"]) for v in stats.values())


async def test_get_does_constant_work_however_many_jobs_are_locked(
    real_queue: RedisJobQueue,
) -> None:
    """get must not scan the queue: with 20,000 locked and waiting jobs it runs the same
    few Redis commands as with one."""
    queue = real_queue
    r = queue.redis

    async def commands_per_empty_get() -> int:
        before = await _commands(r)
        assert await queue.get() is None
        # INFO itself counts as one call
        return await _commands(r) - before - 1

    await queue.put("one")
    assert await queue.get(lock_timeout=60_000) is not None
    small = await commands_per_empty_get()
    for start in range(0, 20_000, 5_000):
        await queue.put_many(range(start, start + 5_000))
        await queue.get_many(5_000, lock_timeout=60_000)
    await queue.put_many(range(20_000, 30_000), delay=60)
    assert (await queue.stats()).locked == 20_001
    large = await commands_per_empty_get()
    assert small == large
    assert large == 5  # EVALSHA, TIME, LRANGE of the ready list and two ZRANGEBYSCORE
    await r.delete(*queue.keys.all())


@pytest.mark.parametrize("max_connections", [1, 2, 3])
async def test_small_pools_still_serve_every_call(
    redis_server: RedisServer, queue_name: str, max_connections: int
) -> None:
    async with RedisJobQueue(
        queue_name, url=redis_server.url, max_connections=max_connections
    ) as queue:
        await queue.put_many(range(20))
        got = []
        async for job in queue.consume(min_interval=0.001, max_interval=0.01):
            got.append(job.payload)
            await job.complete()
            # the queue's client stays usable for the caller's own commands
            assert await queue.redis.ping() is True
            if len(got) == 20:
                break
        assert sorted(got) == list(range(20))
