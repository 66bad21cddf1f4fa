"""The examples a user runs, run against the session's real redis-server."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import redis
from redis_server import RedisServer

from aioredisjobqueue._keys import QueueKeys


def _env(redis_server: RedisServer) -> dict[str, str]:
    return {**os.environ, "REDIS_URL": redis_server.url, "PYTHONUNBUFFERED": "1"}


def test_main_example_completes_every_job_exactly_once(
    redis_server: RedisServer, project_root: Path
) -> None:
    run = subprocess.run(
        [sys.executable, str(project_root / "examples" / "demo.py")],
        env=_env(redis_server),
        capture_output=True,
        text=True,
        timeout=90,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "exactly once" in run.stdout


def test_publisher_and_consumer_examples(redis_server: RedisServer, project_root: Path) -> None:
    env = _env(redis_server)
    r = redis.Redis(port=redis_server.port)
    examples = project_root / "examples"
    publisher = [sys.executable, str(examples / "publisher.py")]
    subprocess.run(publisher, env=env, check=True, timeout=30)
    consumer = subprocess.Popen(
        [sys.executable, str(examples / "consumer.py")],
        env=env,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert consumer.stdout is not None
        lines = [consumer.stdout.readline().strip() for _ in range(10)]
        # each job is printed before it is completed: wait for the last complete
        payloads = QueueKeys("my-queue").payloads
        deadline = time.monotonic() + 10
        while r.hlen(payloads) and time.monotonic() < deadline:
            time.sleep(0.02)
        assert r.hlen(payloads) == 0
    finally:
        consumer.kill()
        consumer.wait()
        if consumer.stdout is not None:
            consumer.stdout.close()
    assert sorted(lines) == sorted(f"Hello world {i}!" for i in range(10))
    # everything was completed: putting the same ten again succeeds without duplicates,
    # and then they are there: a second run reports all ten as duplicates
    for expected_duplicates in (0, 10):
        run = subprocess.run(publisher, env=env, capture_output=True, text=True, timeout=30)
        assert run.returncode == 0
        assert run.stdout.count("already queued") == expected_duplicates
    r.delete(*QueueKeys("my-queue").all())
    r.close()
