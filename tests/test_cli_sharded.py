"""The command line on a sharded queue: every command opens it with the shards Redis holds
for it; ``--shards`` makes a new queue sharded."""

from __future__ import annotations

import asyncio
import json

import pytest
from test_cli import cli, stats_of

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisClusterServer, RedisServer

pytestmark = pytest.mark.real_redis


async def _shards_of(url: str, name: str, **reach: object) -> int:
    async with RedisJobQueue(name, url=url, **reach) as queue:  # type: ignore[arg-type]
        raw = await queue.redis.get(queue.keys.shards)
        return 1 if raw is None else int(raw)


def test_commands_work_on_a_sharded_queue_as_redis_holds_it(
    redis_server: RedisServer, queue_name: str
) -> None:
    url = redis_server.url
    put = cli("put", queue_name, '{"n": 1}', "--shards", "3", url=url)
    assert put.returncode == 0, put.stderr
    for n in range(2, 7):  # no --shards: as Redis holds the queue
        assert cli("put", queue_name, json.dumps({"n": n}), url=url).returncode == 0
    assert stats_of(url, queue_name)["ready"] == 6
    every = cli("stats", "--json", url=url)
    assert [json.loads(line)["queue"] for line in every.stdout.splitlines()].count(queue_name) == 1
    peek = cli("peek", queue_name, "-n", "10", url=url)
    assert sorted(json.loads(line)["n"] for line in peek.stdout.splitlines()) == [1, 2, 3, 4, 5, 6]
    status = cli("status", queue_name, put.stdout.strip(), url=url)
    assert status.returncode == 0 and json.loads(status.stdout)["state"] == "waiting"
    purge = cli("purge", queue_name, "--yes", url=url)
    assert purge.returncode == 0, purge.stderr
    assert stats_of(url, queue_name)["total"] == 0


def test_put_with_other_shards_is_one_error_line(
    redis_server: RedisServer, queue_name: str
) -> None:
    url = redis_server.url
    assert cli("put", queue_name, "1", "--shards", "3", url=url).returncode == 0
    wrong = cli("put", queue_name, "2", "--shards", "2", url=url)
    assert wrong.returncode == 1
    assert wrong.stderr.strip().splitlines() == [
        f"Error: queue {queue_name!r} has shards=3 in Redis, but was opened with shards=2: "
        "open it with shards=3 (a queue's shards never change)"
    ]
    assert stats_of(url, queue_name)["total"] == 1
    bad = cli("put", queue_name, "2", "--shards", "0", url=url)
    assert bad.returncode == 2 and "--shards" in bad.stderr and "0" in bad.stderr
    assert cli("purge", queue_name, "--yes", url=url).returncode == 0


def test_put_shards_a_new_queue_on_the_cluster(
    redis_cluster: RedisClusterServer, queue_name: str
) -> None:
    url = redis_cluster.url
    for n in range(30):
        shards = ["--shards", "6"] if n == 0 else []
        put = cli("--cluster", "put", queue_name, str(n), *shards, url=url)
        assert put.returncode == 0, put.stderr
    assert asyncio.run(_shards_of(url, queue_name, cluster=True)) == 6
    stats = cli("--cluster", "stats", queue_name, "--json", url=url)
    assert json.loads(stats.stdout)["ready"] == 30
    assert cli("--cluster", "purge", queue_name, "--yes", url=url).returncode == 0
