"""Fixtures: the package's own (``aioredisjobqueue.testing``) under the names the tests use.

One redis-server for the session (``jobqueue_redis_server``, also ``redis_server``); queues
on it or on fakeredis (``backend``), each test with its own queue name, so tests never need
to flush the database. The queues on the real server are purged after the test.
"""

from __future__ import annotations

import os
import subprocess
import sys
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import QueueFactory, RedisServer

# make_queue(name=None, **queue_kwargs): without a name, every queue gets ``queue_name``
MakeQueue = QueueFactory


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("chaos", "the fault-injection test (tests/test_chaos.py)")
    group.addoption(
        "--chaos-seconds",
        type=float,
        default=60.0,
        help="how long the chaos test injects faults, in seconds (default: 60)",
    )
    group.addoption(
        "--chaos-seed",
        type=int,
        default=None,
        help="seed of the chaos test's random choices (default: a new one, printed)",
    )


pytest_plugins = ["deployments"]


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    # the chaos test's timeout follows its length: the faults, then the drain
    seconds = config.getoption("--chaos-seconds")
    for item in items:
        if item.get_closest_marker("chaos") is not None:
            item.add_marker(pytest.mark.timeout(seconds + 300))


def pytest_terminal_summary(terminalreporter: Any) -> None:
    # what a timing failure is read against: how many cores, how busy the machine was
    try:
        load = " ".join(f"{n:.2f}" for n in os.getloadavg())
    except OSError:
        load = "unknown"
    terminalreporter.write_line(
        f"machine: {os.cpu_count()} cores, load average (1, 5, 15 min) at the end: {load}"
    )


@pytest.fixture(scope="session")
def redis_server(jobqueue_redis_server: RedisServer) -> RedisServer:
    """The session's redis-server (persistence off)."""
    return jobqueue_redis_server


@pytest.fixture
def queue_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


@pytest.fixture(params=["redis", "fakeredis"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture
def make_queue(backend: str, request: pytest.FixtureRequest, queue_name: str) -> MakeQueue:
    """Make queue objects on this test's backend; by default all named ``queue_name``.

    On the real server each queue object has its own connection pool, as separate
    processes would; on fakeredis they share one fake server for the test.
    """
    fixture = {
        "redis": "real_jobqueue_factory",
        "fakeredis": "jobqueue_factory",
        "cluster": "cluster_jobqueue_factory",
        "sentinel": "sentinel_jobqueue_factory",
    }[backend]
    factory: QueueFactory = request.getfixturevalue(fixture)

    def make(name: str | None = None, **queue_kwargs: Any) -> RedisJobQueue:
        return factory(name or queue_name, **queue_kwargs)

    return make


@pytest.fixture
def queue(make_queue: MakeQueue) -> RedisJobQueue:
    return make_queue()


@pytest.fixture
def make_real_queue(real_jobqueue_factory: QueueFactory, queue_name: str) -> MakeQueue:
    """``make_queue`` on the session's real redis-server only, whatever the backend."""

    def make(name: str | None = None, **queue_kwargs: Any) -> RedisJobQueue:
        return real_jobqueue_factory(name or queue_name, **queue_kwargs)

    return make


@pytest.fixture
def real_queue(make_real_queue: MakeQueue) -> RedisJobQueue:
    """A queue named ``queue_name`` on the session's real redis-server only."""
    return make_real_queue()


@pytest.fixture
def project_root() -> Path:
    return Path(__file__).resolve().parent.parent


# start_cli(*args, cwd=None, env=None): a running ``python -m aioredisjobqueue ARGS``
StartCli = Callable[..., "subprocess.Popen[str]"]


@pytest.fixture
def start_cli() -> Iterator[StartCli]:
    """``start_cli(*args, cwd=None, env=None)`` starts ``python -m aioredisjobqueue ARGS``
    in a process of its own, as a user runs it (a worker, say): ``env`` over the test's
    environment, stdout and stderr piped as text. After the test, each process it started
    that still runs is killed, and the pipes of all are closed."""
    started: list[subprocess.Popen[str]] = []

    def start(
        *args: str, cwd: Path | None = None, env: dict[str, str] | None = None
    ) -> subprocess.Popen[str]:
        process = subprocess.Popen(
            [sys.executable, "-m", "aioredisjobqueue", *args],
            cwd=cwd, env={**os.environ, **(env or {})}, text=True,
            stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        )  # fmt: skip
        started.append(process)
        return process

    yield start
    for process in started:
        if process.poll() is None:
            process.kill()
        process.communicate()  # and close its pipes
