"""Fixtures: a real redis-server for the session, and queues on it and on fakeredis.

Each test uses its own queue names, so tests never need to flush the database.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import fakeredis
import pytest

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisServer


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    server = RedisServer(tmp_path_factory.mktemp("redis"))
    server.start()
    yield server
    server.stop()


@pytest.fixture
def queue_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


MakeQueue = Callable[..., RedisJobQueue]


@pytest.fixture(params=["redis", "fakeredis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
async def make_queue(
    backend: str, request: pytest.FixtureRequest, queue_name: str
) -> AsyncIterator[MakeQueue]:
    """Make queue objects on this test's backend; by default all on the same queue name.

    On the real server each queue object has its own connection pool, as separate
    processes would.
    """
    made: list[RedisJobQueue] = []
    fake_server = fakeredis.FakeServer()
    fakes: list[Any] = []

    def make(name: str | None = None, **kwargs: Any) -> RedisJobQueue:
        if backend == "redis":
            server: RedisServer = request.getfixturevalue("redis_server")
            queue = RedisJobQueue(name or queue_name, url=server.url, **kwargs)
        else:
            client = fakeredis.FakeAsyncRedis(server=fake_server)
            fakes.append(client)
            queue = RedisJobQueue(name or queue_name, redis=client, **kwargs)
        made.append(queue)
        return queue

    yield make
    for queue in made:
        await queue.aclose()
    for client in fakes:
        await client.aclose()


@pytest.fixture
def queue(make_queue: MakeQueue) -> RedisJobQueue:
    return make_queue()


@pytest.fixture
async def real_queue(redis_server: RedisServer, queue_name: str) -> AsyncIterator[RedisJobQueue]:
    """A queue on the session's real redis-server only."""
    async with RedisJobQueue(queue_name, url=redis_server.url) as queue:
        yield queue


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent
