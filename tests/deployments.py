"""Fixtures for the deployments beyond one node: a Redis Cluster and a Sentinel group, each
started once for the test session on loopback (registered in conftest.py), and queues on
them for the contract tests.

A test module runs its ``make_queue``/``queue`` tests on every deployment by taking the
``every_deployment`` parameters for its ``backend``::

    backend = every_deployment
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from typing import Any

import pytest
import pytest_asyncio

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import QueueFactory, RedisClusterServer, RedisSentinelGroup


@pytest.fixture(scope="session")
def redis_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisClusterServer]:
    """3 primaries, each with a replica, so that a primary can fail over."""
    with RedisClusterServer(tmp_path_factory.mktemp("cluster"), replicas=1) as cluster:
        yield cluster


@pytest.fixture(scope="session")
def redis_sentinel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisSentinelGroup]:
    """1 primary, 1 replica, 3 sentinels."""
    with RedisSentinelGroup(tmp_path_factory.mktemp("sentinel")) as group:
        yield group


async def _factory(**reach: Any) -> AsyncIterator[QueueFactory]:
    """``make(name=None, **queue_kwargs)`` for queues reached by ``reach``; purged and
    closed after the test."""
    default = f"test-{uuid.uuid4().hex[:12]}"
    made: list[RedisJobQueue] = []

    def make(name: str | None = None, **queue_kwargs: Any) -> RedisJobQueue:
        queue = RedisJobQueue(name or default, **reach, **queue_kwargs)
        made.append(queue)
        return queue

    yield make
    try:
        for queue in {q.name: q for q in made}.values():
            await queue.purge()
            for key in (queue.keys.marker, queue.keys.shards):
                await queue.redis.delete(key)
            for keys in queue.shard_keys:
                await queue.redis.delete(keys.marker)
    finally:
        for queue in made:
            await queue.aclose()


@pytest_asyncio.fixture
async def cluster_jobqueue_factory(
    redis_cluster: RedisClusterServer,
) -> AsyncIterator[QueueFactory]:
    """Queues on the session's Redis Cluster, reached through one node."""
    async for make in _factory(url=redis_cluster.url, cluster=True):
        yield make


@pytest_asyncio.fixture
async def sentinel_jobqueue_factory(
    redis_sentinel: RedisSentinelGroup,
) -> AsyncIterator[QueueFactory]:
    """Queues on the session's Sentinel group, reached through its sentinels."""
    async for make in _factory(url=redis_sentinel.url):
        yield make


@pytest.fixture(params=["redis", "fakeredis", "cluster", "sentinel"])
def every_deployment(request: pytest.FixtureRequest) -> str:
    """The ``backend`` parameters of a contract test module: one node, fakeredis, a Redis
    Cluster and a Sentinel group."""
    return str(request.param)
