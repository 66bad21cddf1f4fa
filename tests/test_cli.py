"""The command line, against the session's real redis-server: every command and its errors.

Commands run in a subprocess, as users run them, so exit statuses, stderr and signals are
the real ones.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import StartCli
from helpers import eventually_sync

from aioredisjobqueue import RedisJobQueue, job_id
from aioredisjobqueue.testing import RedisServer, free_port

pytestmark = pytest.mark.real_redis


def cli(
    *args: str, url: str | None = None, env: dict[str, str] | None = None, **kw: Any
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m aioredisjobqueue ARGS`` to its end."""
    full_env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"} | (env or {})
    command = [sys.executable, "-m", "aioredisjobqueue", *args]
    if url is not None:
        command += ["--url", url]
    return subprocess.run(
        command, capture_output=True, text=True, env=full_env, timeout=60, check=False, **kw
    )


def assert_one_line_error(result: subprocess.CompletedProcess[str], status: int, text: str) -> None:
    assert result.returncode == status, result
    assert "Traceback" not in result.stderr, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert len(errors) == 1, result.stderr
    assert text in errors[0], result.stderr


def stats_of(url: str, name: str) -> dict[str, int]:
    result = cli("stats", name, "--json", url=url)
    assert result.returncode == 0, result.stderr
    record: dict[str, int] = json.loads(result.stdout)
    return record


def run(coro: Any) -> Any:
    return asyncio.run(coro)


async def _with_queue(url: str, name: str, action: Any, **kwargs: Any) -> Any:
    async with RedisJobQueue(name, url=url, **kwargs) as queue:
        return await action(queue)


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return redis_server.url


def test_put_prints_the_job_id_and_queues_the_job(url: str, queue_name: str) -> None:
    result = cli("put", queue_name, '{"to": "ada@example.com", "n": 1}', url=url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == job_id({"n": 1, "to": "ada@example.com"})
    assert stats_of(url, queue_name)["ready"] == 1


def test_put_of_a_job_already_queued_fails_on_stderr(url: str, queue_name: str) -> None:
    assert cli("put", queue_name, "[1, 2]", url=url).returncode == 0
    result = cli("put", queue_name, "[1,2]", url=url)
    assert_one_line_error(result, 1, f"job {job_id([1, 2])} is already in queue")
    assert result.stdout == ""
    assert stats_of(url, queue_name)["total"] == 1


def test_put_with_delay_queues_a_delayed_job(url: str, queue_name: str) -> None:
    assert cli("put", queue_name, '"later"', "--delay", "60", url=url).returncode == 0
    stats = stats_of(url, queue_name)
    assert (stats["ready"], stats["delayed"]) == (0, 1)


def test_put_of_bad_json_fails_and_queues_nothing(url: str, queue_name: str) -> None:
    result = cli("put", queue_name, "{not json", url=url)
    assert_one_line_error(result, 2, "not valid JSON")
    # nothing was put: the queue does not even exist
    assert_one_line_error(cli("stats", queue_name, url=url), 1, f"no queue {queue_name!r}")


def test_bad_queue_name_is_refused(url: str) -> None:
    assert_one_line_error(cli("put", "a{b}", "1", url=url), 2, "must not contain")


def test_stats_shows_each_state_in_a_table_and_as_json(url: str, queue_name: str) -> None:
    async def fill(queue: RedisJobQueue) -> None:
        await queue.put_many(["a", "b", "c"])
        await queue.put("d", delay=60)
        job = await queue.get(lock_timeout=60_000)
        assert job is not None

    run(_with_queue(url, queue_name, fill))
    assert stats_of(url, queue_name) == {
        "queue": queue_name, "ready": 2, "locked": 1, "delayed": 1, "dead": 0, "total": 4,
        "workers": 0,
    }  # fmt: skip
    table = cli("stats", queue_name, url=url, env={"COLUMNS": "200"})
    assert table.returncode == 0, table.stderr
    header = next(line for line in table.stdout.splitlines() if "ready" in line)
    assert [w for w in header.split() if w.isalpha()] == [
        "queue", "ready", "locked", "delayed", "dead", "total", "workers",
    ]  # fmt: skip
    row = next(line for line in table.stdout.splitlines() if queue_name in line)
    assert [int(w) for w in row.split() if w.isdigit()] == [2, 1, 1, 0, 4, 0]


def test_stats_without_names_lists_every_queue(url: str, queue_name: str) -> None:
    others = [f"{queue_name}-{n}" for n in range(3)]
    for name in others:
        assert cli("put", name, '"x"', url=url).returncode == 0
    result = cli("stats", "--json", url=url)
    assert result.returncode == 0, result.stderr
    listed = [json.loads(line)["queue"] for line in result.stdout.splitlines()]
    assert set(others) <= set(listed)
    assert listed == sorted(listed)


def test_an_emptied_queue_is_still_known(url: str, queue_name: str) -> None:
    assert cli("put", queue_name, '"x"', url=url).returncode == 0
    assert cli("purge", queue_name, "--yes", url=url).returncode == 0
    assert stats_of(url, queue_name)["total"] == 0


def test_commands_on_an_unknown_queue_fail(url: str, queue_name: str) -> None:
    for args in (
        ["stats", queue_name],
        ["peek", queue_name],
        ["dead", queue_name],
        ["requeue-dead", queue_name],
        ["purge", queue_name, "--yes"],
    ):
        assert_one_line_error(cli(*args, url=url), 1, f"no queue {queue_name!r} at")


def test_peek_prints_the_next_payloads_in_due_order(url: str, queue_name: str) -> None:
    async def fill(queue: RedisJobQueue) -> None:
        await queue.put({"n": 3}, delay=30)
        await queue.put_many([{"n": 1}, {"n": 2, "s": "é"}])

    run(_with_queue(url, queue_name, fill))
    result = cli("peek", queue_name, url=url)
    assert result.returncode == 0, result.stderr
    assert [json.loads(line) for line in result.stdout.splitlines()] == [
        {"n": 1}, {"n": 2, "s": "é"}, {"n": 3},
    ]  # fmt: skip
    two = cli("peek", queue_name, "-n", "2", url=url)
    assert len(two.stdout.splitlines()) == 2
    assert stats_of(url, queue_name)["locked"] == 0  # peeking takes nothing


def test_dead_lists_and_requeue_dead_brings_back_dead_letters(url: str, queue_name: str) -> None:
    async def kill(queue: RedisJobQueue) -> None:
        await queue.put_many([{"poison": 1}, {"poison": 2}])
        for job in await queue.get_many(2, lock_timeout=60_000):
            await job.release()  # max_deliveries=1: straight to the dead letters

    run(_with_queue(url, queue_name, kill, max_deliveries=1))
    result = cli("dead", queue_name, url=url)
    assert result.returncode == 0, result.stderr
    letters = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted(d["payload"]["poison"] for d in letters) == [1, 2]
    assert all(d["deliveries"] == 1 for d in letters)
    # the time it died in UTC, to the second
    assert all(
        re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\+00:00", d["died_at"]) for d in letters
    )
    assert {d["id"] for d in letters} == {job_id({"poison": 1}), job_id({"poison": 2})}

    one = cli("requeue-dead", queue_name, job_id({"poison": 1}), url=url)
    assert one.stdout.strip() == f"requeued 1 job in queue {queue_name!r}"
    assert (stats_of(url, queue_name)["ready"], stats_of(url, queue_name)["dead"]) == (1, 1)
    rest = cli("requeue-dead", queue_name, url=url)
    assert rest.stdout.strip() == f"requeued 1 job in queue {queue_name!r}"
    assert stats_of(url, queue_name)["ready"] == 2
    bad = cli("requeue-dead", queue_name, "not-an-id", url=url)
    assert_one_line_error(bad, 2, "ID must be a job id (24 hex digits), got 'not-an-id'")


def test_purge_needs_yes_then_removes_every_job(url: str, queue_name: str) -> None:
    assert cli("put", queue_name, "1", url=url).returncode == 0
    assert cli("put", queue_name, "2", "--delay", "60", url=url).returncode == 0
    refused = cli("purge", queue_name, url=url)
    assert_one_line_error(refused, 2, "add --yes")
    assert stats_of(url, queue_name)["total"] == 2
    done = cli("purge", queue_name, "--yes", url=url)
    assert done.stdout.strip() == f"purged 2 jobs from queue {queue_name!r}"
    assert stats_of(url, queue_name)["total"] == 0


def test_url_comes_from_redis_url_or_before_the_command(url: str, queue_name: str) -> None:
    put = cli("put", queue_name, '"env"', env={"REDIS_URL": url})
    assert put.returncode == 0, put.stderr
    early = subprocess.run(
        [sys.executable, "-m", "aioredisjobqueue", "--url", url, "stats", queue_name, "--json"],
        capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert json.loads(early.stdout)["ready"] == 1


@pytest.mark.parametrize(
    "args",
    [
        ["put", "q", "1"],
        ["stats"],
        ["stats", "q", "--watch"],
        ["peek", "q"],
        ["dead", "q"],
        ["requeue-dead", "q"],
        ["purge", "q", "--yes"],
        ["worker", "asyncio:sleep", "--queue", "q"],
    ],
)
def test_every_command_fails_in_one_line_without_redis(args: list[str]) -> None:
    result = cli(*args, url=f"redis://127.0.0.1:{free_port()}/0")
    assert_one_line_error(result, 1, "cannot reach Redis at redis://127.0.0.1:")


def test_bad_url_is_refused(queue_name: str) -> None:
    assert_one_line_error(cli("stats", url="http://example.com"), 2, "--url")


# -- the worker command ------------------------------------------------------------------

HANDLERS = """
import asyncio, os
from aioredisjobqueue import Job

async def slow(job: Job) -> None:
    with open(os.environ["STARTED"], "a") as f:
        f.write(f"{job.payload}\\n")
    await asyncio.sleep(float(os.environ.get("SLEEP", "0.5")))
    with open(os.environ["DONE"], "a") as f:
        f.write(f"{job.payload}\\n")

def not_async(job):
    pass
"""


@pytest.fixture
def handlers(tmp_path: Path) -> Path:
    (tmp_path / "handlers.py").write_text(textwrap.dedent(HANDLERS))
    for name in ("started", "done"):
        (tmp_path / name).touch()
    return tmp_path


def lines(path: Path) -> list[str]:
    return path.read_text().splitlines()


@pytest.fixture
def start_worker(
    url: str, handlers: Path, start_cli: StartCli
) -> Callable[..., subprocess.Popen[str]]:
    def start(
        queue_name: str, *args: str, handler: str = "handlers:slow", sleep: float = 0.05
    ) -> subprocess.Popen[str]:
        env = {"STARTED": str(handlers / "started"), "DONE": str(handlers / "done"),
               "SLEEP": str(sleep), "REDIS_URL": url}  # fmt: skip
        return start_cli("worker", handler, "--queue", queue_name, *args, cwd=handlers, env=env)

    return start


def test_worker_runs_jobs_and_sigterm_ends_it_gracefully_with_no_job_lost(
    url: str, queue_name: str, handlers: Path, start_worker: Any
) -> None:
    payloads = [str(n) for n in range(12)]
    run(_with_queue(url, queue_name, lambda q: q.put_many(payloads)))
    worker = start_worker(queue_name, "--concurrency", "3", "--grace", "30", sleep=0.4)
    eventually_sync(lambda: len(lines(handlers / "done")) >= 3)
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    assert "Traceback" not in stderr
    started, done = lines(handlers / "started"), lines(handlers / "done")
    # every job it started, it finished (the grace was long enough), and completed
    assert sorted(started) == sorted(done)
    assert len(set(done)) == len(done)
    stats = stats_of(url, queue_name)
    assert stats["locked"] == 0
    assert stats["ready"] == len(payloads) - len(done)  # the rest waits, none lost
    assert "received SIGTERM" in stderr


def test_worker_stopped_past_its_grace_gives_jobs_back_at_once(
    url: str, queue_name: str, handlers: Path, start_worker: Any
) -> None:
    run(_with_queue(url, queue_name, lambda q: q.put_many(["a", "b"])))
    worker = start_worker(queue_name, "--grace", "0.2", "--lock-timeout", "600000", sleep=3600)
    eventually_sync(lambda: len(lines(handlers / "started")) == 2)
    worker.send_signal(signal.SIGINT)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    # released, not left locked for ten minutes
    assert (stats_of(url, queue_name)["ready"], stats_of(url, queue_name)["locked"]) == (2, 0)

    async def take(queue: RedisJobQueue) -> list[int]:
        return [job.deliveries for job in await queue.get_many(2)]

    assert run(_with_queue(url, queue_name, take)) == [1, 1]


def test_second_signal_stops_the_worker_at_once(
    url: str, queue_name: str, handlers: Path, start_worker: Any
) -> None:
    run(_with_queue(url, queue_name, lambda q: q.put("stuck")))
    worker = start_worker(queue_name, "--grace", "3600", "--lock-timeout", "600000", sleep=3600)
    eventually_sync(lambda: len(lines(handlers / "started")) == 1)
    logged: list[str] = []
    reader = threading.Thread(target=lambda: logged.extend(iter(worker.stderr.readline, "")))
    reader.start()
    worker.send_signal(signal.SIGTERM)
    eventually_sync(lambda: any(" stopping: " in line for line in logged), "the first stop")
    assert worker.poll() is None  # waiting out its grace
    worker.send_signal(signal.SIGTERM)
    worker.wait(10)
    reader.join(10)
    stderr = "".join(logged)
    assert worker.returncode == 0, stderr
    assert "stopping at once" in stderr
    assert stats_of(url, queue_name)["locked"] == 1  # back when its lock expires


def test_worker_with_a_bad_handler_fails_in_one_line(url: str, handlers: Path) -> None:
    for spec, text in (
        ("handlers", "must be module:function"),
        ("handlers:missing", "has no 'missing'"),
        ("no_such_module:f", "cannot import 'no_such_module'"),
        ("handlers:not_async", "handler must be an async function"),
    ):
        result = cli("worker", spec, "--queue", "q", url=url, cwd=handlers)
        assert_one_line_error(result, 2, text)


# -- stats --watch ---------------------------------------------------------------------


def test_stats_watch_refreshes_until_stopped(url: str, queue_name: str) -> None:
    run(_with_queue(url, queue_name, lambda q: q.put_many(range(5))))
    watch = subprocess.Popen(
        [sys.executable, "-m", "aioredisjobqueue", "stats", queue_name, "--watch",
         "--interval", "0.1", "--json", "--url", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip
    assert watch.stdout is not None
    first = json.loads(watch.stdout.readline())
    assert first["ready"] == 5

    async def drain(queue: RedisJobQueue) -> None:
        for job in await queue.get_many(5):
            await job.complete()

    run(_with_queue(url, queue_name, drain))
    while json.loads(watch.stdout.readline())["total"] != 0:
        pass  # the watch shows the queue draining
    watch.send_signal(signal.SIGTERM)
    _, stderr = watch.communicate(timeout=10)
    assert watch.returncode == 0, stderr
    assert stderr == ""


def test_stats_watch_in_a_terminal_ends_on_ctrl_c(url: str, queue_name: str) -> None:
    assert cli("put", queue_name, "1", url=url).returncode == 0
    watch = subprocess.Popen(
        [sys.executable, "-m", "aioredisjobqueue", "stats", queue_name, "--watch", "--url", url],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        env={**os.environ, "FORCE_COLOR": "1", "TTY_COMPATIBLE": "1", "TTY_INTERACTIVE": "1",
             "COLUMNS": "200"},
    )  # fmt: skip
    assert watch.stdout is not None
    shown: list[str] = []
    reader = threading.Thread(target=lambda: shown.extend(iter(watch.stdout.readline, "")))
    reader.start()
    try:
        # the live view, which only a terminal gets, shows the queue
        eventually_sync(lambda: "total/s" in "".join(shown) and queue_name in "".join(shown))
    finally:
        watch.send_signal(signal.SIGINT)
        watch.wait(10)
        reader.join(10)
        assert watch.stderr is not None
        stderr = watch.stderr.read()
        watch.stdout.close()
        watch.stderr.close()
    assert watch.returncode == 0, stderr
    assert "Traceback" not in stderr


def test_python_m_and_the_console_script_show_the_version() -> None:
    result = cli("--version")
    assert result.returncode == 0
    assert "aioredisjobqueue, version" in result.stdout
    script = Path(sys.executable).with_name("aioredisjobqueue")
    assert subprocess.run(
        [str(script), "--help"], capture_output=True, text=True, check=False
    ).stdout.startswith("Usage: aioredisjobqueue")


def test_redis_restart_does_not_stop_a_worker(
    tmp_path: Path, handlers: Path, queue_name: str, start_cli: StartCli
) -> None:
    (tmp_path / "data").mkdir()
    with RedisServer(tmp_path / "data", appendonly=True) as server:
        run(_with_queue(server.url, queue_name, lambda q: q.put_many(range(6))))
        env = {"STARTED": str(handlers / "started"), "DONE": str(handlers / "done"),
               "SLEEP": "0.05"}  # fmt: skip
        worker = start_cli(
            "worker", "handlers:slow", "--queue", queue_name, "--url", server.url,
            "--concurrency", "1",
            # a get whose reply the restart cut off leaves its job locked: short locks
            # bring it back within the wait
            "--lock-timeout", "2000",
            cwd=handlers, env=env,
        )  # fmt: skip
        try:
            eventually_sync(lambda: len(lines(handlers / "done")) >= 2)
            server.restart()
            run(_with_queue(server.url, queue_name, lambda q: q.put("after restart")))
            # every job: one whose get reply the restart cut off comes back after its lock
            # expired, which can be after "after restart" ran
            every = {"after restart", *map(str, range(6))}
            eventually_sync(lambda: every <= set(lines(handlers / "done")), within=30)
        finally:
            worker.send_signal(signal.SIGTERM)
            _, stderr = worker.communicate(timeout=30)
        assert worker.returncode == 0, stderr
        assert set(map(str, range(6))) <= set(lines(handlers / "done"))
        assert stats_of(server.url, queue_name)["total"] == 0


def test_jobs_of_a_killed_worker_come_back_when_their_locks_expire(
    url: str, queue_name: str, handlers: Path, start_worker: Any
) -> None:
    run(_with_queue(url, queue_name, lambda q: q.put_many(["x", "y"])))
    # long enough that the locks still hold when stats looks, on a loaded machine too
    killed = start_worker(queue_name, "--lock-timeout", "4000", sleep=3600)
    eventually_sync(lambda: len(lines(handlers / "started")) == 2)
    killed.kill()  # SIGKILL: no chance to give anything back
    killed.wait()
    # still locked, or their 1 s locks already expired on a slow machine: not given back
    stats = stats_of(url, queue_name)
    assert stats["locked"] + stats["ready"] == stats["total"] == 2
    survivor = start_worker(queue_name, sleep=0.01)
    eventually_sync(lambda: sorted(lines(handlers / "done")) == ["x", "y"])
    survivor.send_signal(signal.SIGTERM)
    assert survivor.wait(timeout=30) == 0
    assert stats_of(url, queue_name)["total"] == 0
    assert sorted(lines(handlers / "started")) == ["x", "x", "y", "y"]


def test_worker_ends_in_one_line_on_a_redis_error_reply(url: str, queue_name: str) -> None:
    async def break_queue(queue: RedisJobQueue) -> None:
        await queue.redis.set(queue.keys.waiting, "not a sorted set")

    run(_with_queue(url, queue_name, break_queue))
    result = cli("worker", "asyncio:sleep", "--queue", queue_name, url=url)
    assert_one_line_error(result, 1, "answered: WRONGTYPE")
