"""The benchmark's instruments: what an idle worker sends Redis (``benchmarks.idle``) and
where queued jobs keep their bytes (``benchmarks.keyspace``).

Both look at everything a server holds or receives, so they run on a redis-server of their
own that no other test talks to (emptied before each test).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import pytest
import redis.asyncio

from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

TWO_COMMANDS = "redis.call('SET', KEYS[1], ARGV[1]); return redis.call('GET', KEYS[1])"


@pytest.fixture
def benchmarks_on_path(project_root: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(project_root))


@pytest.fixture
def idle(benchmarks_on_path: None) -> ModuleType:
    return importlib.import_module("benchmarks.idle")


@pytest.fixture
def keyspace(benchmarks_on_path: None) -> ModuleType:
    return importlib.import_module("benchmarks.keyspace")


@pytest.fixture(scope="module")
def server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


@pytest.fixture
async def own_server(server: RedisServer) -> RedisServer:
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(server.url)
    try:
        await client.flushall()
    finally:
        await client.aclose()
    return server


async def test_request_count_counts_each_request_once_and_script_commands_apart(
    idle: ModuleType, own_server: RedisServer
) -> None:
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(own_server.url)
    try:
        await client.ping()  # before the window: not counted
        async with idle.RequestCount(own_server.url) as seen:
            for _ in range(3):
                await client.ping()
            assert await client.eval(TWO_COMMANDS, 1, "bench-idle-key", "v") == b"v"
        await client.ping()  # after the window: not counted
    finally:
        await client.aclose()
    assert dict(seen.requests) == {"ping": 3, "eval": 1}
    assert seen.total == 4
    assert seen.in_scripts == 2
    assert seen.seconds > 0


async def test_request_count_of_a_silent_server_is_zero(
    idle: ModuleType, own_server: RedisServer
) -> None:
    async with idle.RequestCount(own_server.url) as seen:
        pass
    assert seen.total == 0
    assert seen.in_scripts == 0


async def test_memory_by_key_pattern_sums_memory_usage_of_each_key(
    keyspace: ModuleType, own_server: RedisServer
) -> None:
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(own_server.url)
    try:
        await client.hset("q:{x}:payloads", mapping={f"id{i:04}": "v" * 50 for i in range(300)})
        for i in range(300):
            await client.set(f"q:{{x}}:result:{i:012x}", "r" * 20)
        await client.zadd("q:{x}:waiting", {f"id{i:04}": i for i in range(300)})
        usage = {
            key: int(await client.memory_usage(key, samples=0) or 0)
            for key in await client.keys("*")
        }
        groups = {g["pattern"]: g for g in await keyspace.by_pattern(client, 300)}
    finally:
        await client.aclose()
    assert set(groups) == {"q:{x}:payloads", "q:{x}:result:*", "q:{x}:waiting"}
    results = sum(v for k, v in usage.items() if b":result:" in k)
    assert groups["q:{x}:result:*"]["keys"] == 300
    assert groups["q:{x}:result:*"]["bytes"] == results
    assert groups["q:{x}:result:*"]["bytes_per_job"] == results / 300
    assert groups["q:{x}:result:*"]["value_bytes"] == 20
    payloads = groups["q:{x}:payloads"]
    assert (payloads["type"], payloads["keys"], payloads["elements_first"]) == ("hash", 1, 300)
    assert payloads["bytes"] == usage[b"q:{x}:payloads"]
    assert (payloads["name_bytes"], payloads["value_bytes"]) == (6, 50)
    assert groups["q:{x}:waiting"]["type"] == "zset"
    assert groups["q:{x}:waiting"]["bytes"] == usage[b"q:{x}:waiting"]
