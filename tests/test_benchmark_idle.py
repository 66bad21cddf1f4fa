"""The benchmark's count of what an idle worker sends Redis (``benchmarks.idle``).

It counts every request a server receives, so it runs on a redis-server of its own that
no other test talks to.
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
def idle(project_root: Path, monkeypatch: pytest.MonkeyPatch) -> ModuleType:
    monkeypatch.syspath_prepend(str(project_root))
    return importlib.import_module("benchmarks.idle")


@pytest.fixture(scope="module")
def own_server() -> Iterator[RedisServer]:
    with RedisServer() as server:
        yield server


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
