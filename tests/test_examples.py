"""The examples a user runs, run against the session's real redis-server."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import time
from pathlib import Path

import redis

from aioredisjobqueue._keys import QueueKeys
from aioredisjobqueue.testing import RedisServer


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
        deadline = time.monotonic() + 30
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


def test_wordcount_service_counts_every_file_through_a_deploy(project_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # its own redis-server
    run = subprocess.run(
        [sys.executable, str(project_root / "examples" / "wordcount" / "run.py")],
        env={**env, "WORDCOUNT_WORK_SECONDS": "0.005", "PYTHONUNBUFFERED": "1"},
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert run.returncode == 0, run.stdout + run.stderr
    assert "OK: every file was counted or is a dead letter" in run.stdout
    assert "files lost: 0" in run.stdout
    assert "/no/such/file.py" in run.stdout  # the poison job, dead-lettered
    # worker 1 was stopped halfway, with SIGTERM, and said what its jobs did
    worker_1 = next(line for line in run.stdout.splitlines() if "worker 1:" in line)
    assert "completed" in worker_1
    # the live view ran: a snapshot's row of the queue, with its five counts and workers
    assert re.search(r"^\W*wordcount\W+(\d+\W+){6}$", run.stdout, re.MULTILINE), run.stdout
