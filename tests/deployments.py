"""Fixtures for the deployments beyond one node: a Redis Cluster and a Sentinel group, each
started once for the test session on loopback (registered in conftest.py)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aioredisjobqueue.testing import RedisClusterServer, RedisSentinelGroup


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
