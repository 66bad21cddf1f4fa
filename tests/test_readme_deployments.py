"""The README's examples of running on Redis Cluster and Sentinel run as written, against
the test session's cluster and Sentinel group."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aioredisjobqueue.testing import RedisClusterServer, RedisSentinelGroup

pytestmark = pytest.mark.real_redis

SECTION = "## Running on Redis Cluster and Sentinel"


def examples() -> list[str]:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    return re.findall(r"```python\n(.*?)```", section, re.S)


def run(code: str, url: str, tmp_path: Path) -> list[str]:
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {**os.environ, "REDIS_URL": url, "PYTHONUNBUFFERED": "1"}
    done = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert done.returncode == 0, done.stdout + done.stderr
    return done.stdout.splitlines()


def test_the_section_has_its_three_examples() -> None:
    assert len(examples()) == 3


def test_the_connection_example_runs_on_a_cluster_and_on_sentinel(
    redis_cluster: RedisClusterServer, redis_sentinel: RedisSentinelGroup, tmp_path: Path
) -> None:
    cluster_url = redis_cluster.url.replace("redis://", "redis+cluster://").removesuffix("/0")
    for url in (cluster_url, redis_sentinel.url):
        assert run(examples()[0], url, tmp_path) == ["{'to': 'ada@example.com'}"]


def test_the_replicated_put_example_runs_on_sentinel(
    redis_sentinel: RedisSentinelGroup, tmp_path: Path
) -> None:
    (line,) = run(examples()[1], redis_sentinel.url, tmp_path)
    assert line.startswith("on a replica too: ")


def test_the_sharded_queue_example_runs_on_a_cluster(
    redis_cluster: RedisClusterServer, tmp_path: Path
) -> None:
    cluster_url = redis_cluster.url.replace("redis://", "redis+cluster://").removesuffix("/0")
    assert run(examples()[2], cluster_url, tmp_path) == ["100 90"]
