"""The worker command as a service runs it: several queues, a lifespan given the Redis URL."""

from __future__ import annotations

import asyncio
import signal
import textwrap
from pathlib import Path

import pytest
from conftest import StartCli
from helpers import eventually_sync
from test_cli import assert_one_line_error, cli, lines

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisServer, free_port

pytestmark = pytest.mark.real_redis

SERVICE = """
import os
from contextlib import asynccontextmanager
from aioredisjobqueue import Job, worker_state

LOG = os.environ["LOG"]

def log(line):
    with open(LOG, "a") as f:
        f.write(line + "\\n")

@asynccontextmanager
async def lifespan(url):
    log(f"enter {url}")
    yield {"url": url}
    log("exit")

async def handle(job: Job) -> None:
    log(f"job {job.queue.name} {job.payload} {worker_state(dict)['url']}")

def not_a_lifespan(url):
    return {"url": url}
"""


@pytest.fixture
def service(tmp_path: Path) -> Path:
    (tmp_path / "service.py").write_text(textwrap.dedent(SERVICE))
    (tmp_path / "log").touch()
    return tmp_path


async def _put(url: str, name: str, payload: str) -> None:
    async with RedisJobQueue(name, url=url) as queue:
        await queue.put(payload)


def test_one_worker_command_serves_each_queue_given_with_the_lifespan_around(
    redis_server: RedisServer, queue_name: str, service: Path, start_cli: StartCli
) -> None:
    url = redis_server.url
    emails, thumbs, typo = (f"{queue_name}-{n}" for n in ("emails", "thumbs", "typo"))
    asyncio.run(_put(url, emails, "e1"))
    asyncio.run(_put(url, thumbs, "t1"))
    worker = start_cli(
        "worker", "service:handle",
        "--queue", emails, "-q", thumbs, "--queue", typo, "--lifespan", "service:lifespan",
        cwd=service, env={"LOG": str(service / "log"), "REDIS_URL": url},
    )  # fmt: skip
    eventually_sync(lambda: len(lines(service / "log")) == 3)
    asyncio.run(_put(url, thumbs, "t2"))
    eventually_sync(lambda: len(lines(service / "log")) == 4)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    log = lines(service / "log")
    assert log[0] == f"enter {url}" and log[-1] == "exit"
    assert sorted(log[1:-1]) == sorted(
        [f"job {emails} e1 {url}", f"job {thumbs} t1 {url}", f"job {thumbs} t2 {url}"]
    )
    # the misspelled queue is served too, but the worker says it never had a job
    assert f"queue {typo!r} has never had a job" in stderr
    assert f"queue {emails!r} has never had a job" not in stderr


def test_a_comma_in_a_queue_name_is_refused(redis_server: RedisServer) -> None:
    result = cli("worker", "asyncio:sleep", "--queue", "emails,thumbs", url=redis_server.url)
    assert_one_line_error(result, 2, "must not contain ','")
    assert "--queue a --queue b" in result.stderr


def test_a_queue_given_twice_is_refused(redis_server: RedisServer) -> None:
    result = cli("worker", "asyncio:sleep", "-q", "a", "-q", "a", url=redis_server.url)
    assert_one_line_error(result, 2, "queue 'a' is given twice")


def test_a_lifespan_that_cannot_be_imported_is_refused(redis_server: RedisServer) -> None:
    args = ("worker", "asyncio:sleep", "-q", "a", "--lifespan", "no_such_module:lifespan")
    assert_one_line_error(cli(*args, url=redis_server.url), 2, "cannot import 'no_such_module'")


def test_a_lifespan_that_makes_no_context_manager_is_refused(
    redis_server: RedisServer, service: Path
) -> None:
    args = ("worker", "service:handle", "-q", "a", "--lifespan", "service:not_a_lifespan")
    env = {"LOG": str(service / "log")}
    result = cli(*args, url=redis_server.url, env=env, cwd=service)
    assert_one_line_error(result, 2, "not an async context manager")


HOLD = """
import asyncio, os

async def hold(job):
    with open(os.environ["STARTED"], "a") as f:
        f.write(f"{job.payload}\\n")
    await asyncio.sleep(3600)
"""


async def _counts(url: str, name: str) -> tuple[int, int]:
    async with RedisJobQueue(name, url=url) as queue:
        stats = await queue.stats()
    return stats.ready, stats.locked


@pytest.mark.parametrize(
    ("args", "held"),
    [((), 2), (("--prefetch", "0"), 1), (("--prefetch", "3"), 4)],
    ids=["default", "none", "three"],
)
def test_prefetch_is_how_many_jobs_the_worker_holds_beyond_its_busy_slots(
    redis_server: RedisServer,
    queue_name: str,
    tmp_path: Path,
    args: tuple[str, ...],
    held: int,
    start_cli: StartCli,
) -> None:
    url = redis_server.url
    (tmp_path / "hold.py").write_text(textwrap.dedent(HOLD))
    (tmp_path / "started").touch()

    async def fill() -> None:
        async with RedisJobQueue(queue_name, url=url) as queue:
            await queue.put_many([str(n) for n in range(10)])

    asyncio.run(fill())
    worker = start_cli(
        "worker", "hold:hold", "-q", queue_name,
        "--concurrency", "1", "--grace", "0", "--lock-timeout", "600000", *args,
        cwd=tmp_path, env={"STARTED": str(tmp_path / "started"), "REDIS_URL": url},
    )  # fmt: skip
    # one job runs; the worker took it and its prefetch in one round trip
    eventually_sync(lambda: len(lines(tmp_path / "started")) == 1, "the first job")
    eventually_sync(lambda: asyncio.run(_counts(url, queue_name)) == (10 - held, held))
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    # on stop, the running job and the prefetched ones are given back at once
    assert asyncio.run(_counts(url, queue_name)) == (10, 0)


@pytest.mark.parametrize("value", ["-1", "many", "1.5"])
def test_a_bad_prefetch_is_refused_before_redis_is_reached(value: str) -> None:
    nothing_there = f"redis://127.0.0.1:{free_port()}/0"  # reaching it would exit with 1
    result = cli("worker", "asyncio:sleep", "-q", "a", "--prefetch", value, url=nothing_there)
    assert_one_line_error(result, 2, "'--prefetch'")
    assert value in result.stderr
