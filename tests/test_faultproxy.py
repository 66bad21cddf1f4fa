"""The chaos test's fault-injecting proxy, on its own: it relays, and injects what it says."""

from __future__ import annotations

import asyncio

import pytest
import redis.asyncio as aioredis
from faultproxy import FaultProxy
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError

from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

NO_RETRY = Retry(NoBackoff(), 0)


async def test_split_and_delayed_bytes_arrive_whole_and_in_order(
    redis_server: RedisServer, queue_name: str
) -> None:
    async with (
        FaultProxy(redis_server.port, seed=1, delay=0.5, split=0.5, max_delay=0.01) as proxy,
        aioredis.Redis(port=proxy.port) as client,
    ):
        value = bytes(range(256)) * 4096  # 1 MiB, many chunks
        await client.set(queue_name, value)
        assert await client.get(queue_name) == value
        replies = await asyncio.gather(*(client.incr(f"{queue_name}:n") for _ in range(50)))
        assert sorted(replies) == list(range(1, 51))
        await client.delete(queue_name, f"{queue_name}:n")
    assert proxy.faults["split"] > 0 and proxy.faults["delay"] > 0
    assert proxy.faults["drop"] == 0


async def test_a_dropped_connection_fails_the_call_and_the_next_reconnects(
    redis_server: RedisServer,
) -> None:
    async with (
        FaultProxy(redis_server.port, drop=1.0) as proxy,
        aioredis.Redis(port=proxy.port, retry=NO_RETRY) as client,
    ):
        with pytest.raises(RedisConnectionError):
            await client.ping()
        assert proxy.faults["drop"] >= 1
        proxy.faults_on = False
        assert await client.ping() is True
        assert proxy.connections >= 2


async def test_drop_all_closes_every_open_connection(redis_server: RedisServer) -> None:
    async with (
        FaultProxy(redis_server.port) as proxy,
        aioredis.Redis(port=proxy.port, retry=NO_RETRY) as client,
    ):
        assert await client.ping() is True
        assert proxy.drop_all() == 1
        with pytest.raises(RedisConnectionError):
            await client.ping()
        assert await client.ping() is True
        assert proxy.connections == 2


async def test_a_blackhole_holds_calls_until_it_ends(redis_server: RedisServer) -> None:
    async with FaultProxy(redis_server.port) as proxy, aioredis.Redis(port=proxy.port) as client:
        assert await client.ping() is True
        hole = asyncio.create_task(proxy.blackhole(3600))
        ping = asyncio.create_task(client.ping())
        # nothing comes back while the hole lasts
        done, _ = await asyncio.wait({ping}, timeout=0.3)
        assert not done
        hole.cancel()
        assert await asyncio.wait_for(ping, 10) is True
        await asyncio.gather(hole, return_exceptions=True)
    assert proxy.faults["blackhole"] == 1
