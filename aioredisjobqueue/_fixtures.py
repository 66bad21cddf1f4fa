"""The pytest fixtures of ``aioredisjobqueue.testing``, registered by its ``pytest_configure``.

Only pytest runs import this module, so the helpers of ``aioredisjobqueue.testing``
(``RedisServer``, ``fake_queue``, ``drain``) work where pytest is not installed.
"""

from __future__ import annotations

import shutil
import sys
from collections.abc import AsyncIterator, Iterator
from typing import TYPE_CHECKING, Any

import pytest

from ._queue import RedisJobQueue
from ._server import RedisServer
from .testing import _INSTALL, QueueFactory, _fake_client, _fake_server, _unique_name, fake_queue

if TYPE_CHECKING:
    import fakeredis

__all__ = ["jobqueue_redis_server", "register"]

# The name under which pytest_configure registers this module (the queue fixtures: .queues).
_FIXTURES = "aioredisjobqueue.fixtures"


@pytest.fixture(scope="session")
def jobqueue_redis_server() -> Iterator[RedisServer]:
    """A ``RedisServer`` for the test session, persistence off; skips without redis-server."""
    if shutil.which("redis-server") is None:
        pytest.skip(
            "redis-server is not on the PATH: install it (Debian: apt-get install redis-server)"
        )
    with RedisServer() as server:
        yield server


def _queue_fixtures(config: pytest.Config) -> object:
    """The async fixtures, on pytest-asyncio; or stand-ins that say what is missing."""
    try:
        import pytest_asyncio
        from pytest_asyncio import plugin as asyncio_plugin
    except ImportError:
        return _Missing(f"the aioredisjobqueue queue fixtures need pytest-asyncio: {_INSTALL}")
    if not config.pluginmanager.is_registered(asyncio_plugin):
        return _Missing(
            "the aioredisjobqueue queue fixtures need the pytest-asyncio plugin, which is "
            "not active (was it disabled with -p no:asyncio?)"
        )

    class QueueFixtures:
        @pytest_asyncio.fixture
        async def jobqueue(self) -> AsyncIterator[RedisJobQueue]:
            """A ``RedisJobQueue`` on a fresh fakeredis server, closed after the test."""
            async with fake_queue() as queue:
                yield queue

        @pytest_asyncio.fixture
        async def jobqueue_factory(self) -> AsyncIterator[QueueFactory]:
            """``make(name=None, **queue_kwargs)``: queues on one fakeredis server for the
            test, by default all on one queue name; all closed after the test."""
            server = _fake_server()
            default = _unique_name()
            made: list[tuple[RedisJobQueue, fakeredis.FakeAsyncRedis]] = []

            def make(name: str | None = None, **queue_kwargs: Any) -> RedisJobQueue:
                client = _fake_client(server)
                queue = RedisJobQueue(name or default, redis=client, **queue_kwargs)
                made.append((queue, client))
                return queue

            yield make
            for queue, client in made:
                await queue.aclose()
                await client.aclose()

        @pytest_asyncio.fixture
        async def real_jobqueue(
            self, jobqueue_redis_server: RedisServer
        ) -> AsyncIterator[RedisJobQueue]:
            """A ``RedisJobQueue`` named for this test on ``jobqueue_redis_server``; its keys
            are deleted and it is closed after the test."""
            async with RedisJobQueue(_unique_name(), url=jobqueue_redis_server.url) as queue:
                try:
                    yield queue
                finally:
                    await _remove(queue)

        @pytest_asyncio.fixture
        async def real_jobqueue_factory(
            self, jobqueue_redis_server: RedisServer
        ) -> AsyncIterator[QueueFactory]:
            """``make(name=None, **queue_kwargs)``: queues on ``jobqueue_redis_server``, each
            with its own connection pool, by default all on one queue name unique to the
            test; their keys are deleted and they are closed after the test."""
            default = _unique_name()
            made: list[RedisJobQueue] = []

            def make(name: str | None = None, **queue_kwargs: Any) -> RedisJobQueue:
                url = jobqueue_redis_server.url
                queue = RedisJobQueue(name or default, url=url, **queue_kwargs)
                made.append(queue)
                return queue

            yield make
            try:
                purged: set[str] = set()
                for queue in made:
                    if queue.name not in purged:
                        purged.add(queue.name)
                        await _remove(queue)
            finally:
                for queue in made:
                    await queue.aclose()

    return QueueFixtures()


async def _remove(queue: RedisJobQueue) -> None:
    """Purge ``queue`` and delete its marker key (and a sharded queue's shards and its
    shards' markers): the session's server keeps nothing of it."""
    await queue.purge()
    for key in (queue.keys.marker, queue.keys.shards, *(k.marker for k in queue.shard_keys)):
        await queue.redis.delete(key)


class _Missing:
    """Stand-ins for the queue fixtures when pytest-asyncio cannot run them."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def _fail(self) -> None:
        pytest.fail(self.reason, pytrace=False)

    @pytest.fixture
    def jobqueue(self) -> None:
        self._fail()

    @pytest.fixture
    def jobqueue_factory(self) -> None:
        self._fail()

    @pytest.fixture
    def real_jobqueue(self) -> None:
        self._fail()

    @pytest.fixture
    def real_jobqueue_factory(self) -> None:
        self._fail()


def register(config: pytest.Config) -> None:
    """Register the fixtures with pytest, once; the queue fixtures on pytest-asyncio when it
    is active (else stand-ins that fail with what to install)."""
    if not config.pluginmanager.has_plugin(_FIXTURES):
        config.pluginmanager.register(sys.modules[__name__], _FIXTURES)
        config.pluginmanager.register(_queue_fixtures(config), _FIXTURES + ".queues")
