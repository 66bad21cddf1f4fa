"""The command line on one job by its id: status, cancel, result, put --key, dead's error."""

from __future__ import annotations

import datetime as dt
import json
import re
import subprocess
import sys
import time

import pytest
from test_cli import _with_queue, assert_one_line_error, cli, run

from aioredisjobqueue import RedisJobQueue, job_id
from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return redis_server.url


def test_status_cancel_and_put_with_a_key(url: str, queue_name: str) -> None:
    put = cli("put", queue_name, '{"to": "a@b.c"}', "--key", "request-7", url=url)
    assert put.returncode == 0, put.stderr
    chosen = put.stdout.strip()
    assert chosen == job_id({"to": "a@b.c"}, key="request-7")
    again = cli("put", queue_name, '"other"', "--key", "request-7", url=url)
    assert_one_line_error(again, 1, f"job {chosen} is already in queue")

    shown = cli("status", queue_name, chosen, url=url)
    assert shown.returncode == 0, shown.stderr
    record = json.loads(shown.stdout)
    assert (record["id"], record["state"], record["deliveries"]) == (chosen, "waiting", 0)
    assert "due_at" not in record and record["last_error"] is None  # due at once

    by_key = json.loads(cli("status", queue_name, "--key", "request-7", url=url).stdout)
    assert by_key == record
    both = cli("status", queue_name, chosen, "--key", "request-7", url=url)
    assert_one_line_error(both, 2, "give the job's ID or its --key, one of them")
    assert_one_line_error(cli("status", queue_name, url=url), 2, "give the job's ID or its --key")

    done = cli("cancel", queue_name, "--key", "request-7", url=url)
    assert done.stdout.strip() == f"cancelled job {chosen} in queue {queue_name!r}"
    assert_one_line_error(cli("status", queue_name, chosen, url=url), 1, f"no job {chosen}")
    assert_one_line_error(cli("cancel", queue_name, chosen, url=url), 1, f"no job {chosen}")
    assert_one_line_error(cli("status", queue_name, "xyz", url=url), 2, "ID must be a job id")
    assert_one_line_error(cli("put", queue_name, "1", "--key", "", url=url), 2, "key must be")


def test_status_gives_when_a_delayed_job_is_due_in_utc_to_the_millisecond(
    url: str, queue_name: str
) -> None:
    chosen = cli("put", queue_name, '"later"', "--delay", "3600", url=url).stdout.strip()
    record = json.loads(cli("status", queue_name, chosen, url=url).stdout)
    assert record["state"] == "delayed"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}\+00:00", record["due_at"])
    # an hour from now by the server's clock, which is this machine's
    due = dt.datetime.fromisoformat(record["due_at"]).timestamp()
    assert 3000 < due - time.time() < 3700


def test_result_waits_for_the_job_and_prints_it(url: str, queue_name: str) -> None:
    put = cli("put", queue_name, '"compute"', url=url)
    chosen = put.stdout.strip()
    command = [sys.executable, "-m", "aioredisjobqueue", "result", queue_name, chosen]
    waiting = subprocess.Popen(
        [*command, "--url", url, "--timeout", "60"], stdout=subprocess.PIPE, text=True
    )

    async def complete(queue: RedisJobQueue) -> None:
        job = await queue.get(lock_timeout=60_000)
        assert job is not None
        await job.complete(result={"answer": 42})

    run(_with_queue(url, queue_name, complete))
    out, _ = waiting.communicate(timeout=60)
    assert waiting.returncode == 0
    assert json.loads(out) == {"answer": 42}
    late = cli("result", queue_name, chosen, url=url)  # kept: printed at once
    assert json.loads(late.stdout) == {"answer": 42}


def test_result_errors(url: str, queue_name: str) -> None:
    cli("put", queue_name, '"slow"', url=url)
    slow = cli("result", queue_name, job_id("slow"), "--timeout", "0.2", url=url)
    assert_one_line_error(slow, 1, "no result of job")
    unknown = cli("result", queue_name, job_id("never"), url=url)
    assert_one_line_error(unknown, 1, "is not in queue")


def test_dead_shows_the_last_error(url: str, queue_name: str) -> None:
    async def kill(queue: RedisJobQueue) -> None:
        await queue.put({"poison": 1})
        job = await queue.get(lock_timeout=60_000)
        assert job is not None
        await job.dead_letter(error="ValueError: cannot parse")

    run(_with_queue(url, queue_name, kill))
    result = cli("dead", queue_name, url=url)
    (letter,) = [json.loads(line) for line in result.stdout.splitlines()]
    assert letter["error"] == "ValueError: cannot parse"
    died = cli("result", queue_name, job_id({"poison": 1}), url=url)
    assert_one_line_error(died, 1, "is dead-lettered: ValueError: cannot parse")
    shown = json.loads(cli("status", queue_name, job_id({"poison": 1}), url=url).stdout)
    assert (shown["state"], shown["last_error"]) == ("dead", "ValueError: cannot parse")
