"""Operations on the command line, against the session's real redis-server: workers and
stats list a running CLI worker, health for exec probes, /livez and /readyz, Kubernetes-style
probes before and after SIGKILL, JSON logs."""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest
from helpers import eventually_sync as wait_for
from test_cli import HANDLERS, assert_one_line_error, cli, lines, run
from test_cli import start_worker as start_worker  # the fixture, shared

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisServer, free_port

pytestmark = pytest.mark.real_redis


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def handlers(tmp_path: Path) -> Path:
    (tmp_path / "handlers.py").write_text(
        HANDLERS
        + "\n\nasync def flaky(job: Job) -> None:\n"
        + "    if job.payload == 'bad':\n"
        + "        raise ValueError('bad payload')\n"
    )
    for name in ("started", "done"):
        (tmp_path / name).touch()
    return tmp_path


def get(url: str) -> tuple[int, str]:
    """GET ``url``: (status, body), or (0, why) when nothing answers."""
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()
    except (urllib.error.URLError, OSError) as exc:
        return 0, str(exc)


def workers_of(url: str, *names: str) -> list[dict[str, Any]]:
    result = cli("workers", *names, "--json", url=url)
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines()]


def test_workers_and_stats_list_a_running_worker_until_it_stops(
    url: str, queue_name: str, handlers: Path, start_worker: Any
) -> None:
    run(_put(url, queue_name, ["a", "b", "c"]))
    worker = start_worker(queue_name, "--concurrency", "3", "--heartbeat", "0.2")
    wait_for(lambda: len(lines(handlers / "done")) == 3)
    wait_for(lambda: [w["counts"].get("complete") for w in workers_of(url, queue_name)] == [3])
    (listed,) = workers_of(url, queue_name)
    assert listed["pid"] == worker.pid
    assert listed["queue"] == queue_name and listed["queues"] == [queue_name]
    assert (listed["concurrency"], listed["running"], listed["stopping"]) == (3, 0, False)
    assert listed["expires_at"] > listed["beat_at"] >= listed["started_at"] - 5
    # without names: every queue that has workers
    assert listed["id"] in {w["id"] for w in workers_of(url)}
    table = cli("workers", queue_name, url=url, env={"COLUMNS": "250"})
    row = next(line for line in table.stdout.splitlines() if queue_name in line)
    assert listed["id"] in row and f":{worker.pid}" in row
    stats = cli("stats", queue_name, "--json", url=url)
    assert json.loads(stats.stdout)["workers"] == 1
    stats_table = cli("stats", queue_name, url=url, env={"COLUMNS": "200"})
    header = next(line for line in stats_table.stdout.splitlines() if "ready" in line)
    assert header.split()[-2] == "workers"
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    # a clean stop removes the worker at once
    assert workers_of(url, queue_name) == []
    assert json.loads(cli("stats", queue_name, "--json", url=url).stdout)["workers"] == 0


async def _put(url: str, name: str, payloads: list[Any]) -> None:
    async with RedisJobQueue(name, url=url) as queue:
        await queue.put_many(payloads)


def test_health_passes_with_redis_and_a_live_worker_and_fails_in_one_line_otherwise(
    url: str, queue_name: str, start_worker: Any
) -> None:
    ok = cli("health", url=url)
    assert (ok.returncode, ok.stdout.strip()) == (0, "ok: Redis answers")
    assert_one_line_error(
        cli("health", "--queue", queue_name, url=url),
        1,
        f"no live worker serves queue {queue_name!r}",
    )
    worker = start_worker(queue_name)
    wait_for(lambda: cli("health", "--queue", queue_name, url=url).returncode == 0)
    both = cli("health", "--queue", queue_name, "--queue", queue_name + "-none", url=url)
    assert_one_line_error(both, 1, f"no live worker serves queue {queue_name + '-none'!r}")
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert cli("health", "--queue", queue_name, url=url).returncode == 1
    no_redis = cli("health", url=f"redis://127.0.0.1:{free_port()}/0")
    assert_one_line_error(no_redis, 1, "cannot reach Redis")
    assert_one_line_error(cli("health", "--queue", "a{b}", url=url), 2, "must not contain")


def test_health_endpoints_of_a_worker_answer_livez_and_readyz(
    url: str, queue_name: str, start_worker: Any
) -> None:
    port = free_port()
    worker = start_worker(queue_name, "--health-port", str(port), "--http-host", "127.0.0.1")
    base = f"http://127.0.0.1:{port}"
    wait_for(lambda: get(base + "/livez")[0] == 200)
    assert get(base + "/readyz") == (200, "ok: Redis answers\n")
    status, body = get(base + "/nothing")
    assert status == 404 and "/livez" in body
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0
    assert get(base + "/livez")[0] == 0  # the endpoint stops with the worker


def test_worker_refuses_a_health_port_in_use_in_one_line(url: str, queue_name: str) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = cli("worker", "asyncio:sleep", "--queue", queue_name, "--health-port",
                     str(port), "--http-host", "127.0.0.1", url=url)  # fmt: skip
    assert_one_line_error(result, 1, "cannot serve HTTP on 127.0.0.1")


def test_kubernetes_style_probes_pass_then_fail_within_their_period_after_sigkill(
    url: str, queue_name: str, start_worker: Any, project_root: Path
) -> None:
    heartbeat, period = 0.5, 1.0
    ttl = 3 * heartbeat  # the worker's entry expires this long after its last beat
    port = free_port()
    worker = start_worker(queue_name, "--heartbeat", str(heartbeat), "--health-port", str(port))
    wait_for(lambda: get(f"http://127.0.0.1:{port}/readyz")[0] == 200)
    wait_for(lambda: cli("health", "--queue", queue_name, url=url).returncode == 0)
    health = f"{sys.executable} -m aioredisjobqueue health --queue {queue_name} --url {url}"
    script = [sys.executable, str(project_root / "examples" / "kubernetes" / "probe.py"),
              "--period", str(period), "--timeout", "10", "--failure-threshold", "1"]  # fmt: skip
    http = [f"http://127.0.0.1:{port}/livez", f"http://127.0.0.1:{port}/readyz"]
    probers = {
        "exec": subprocess.Popen([*script, "--exec", health], stdout=subprocess.PIPE, text=True),
        "http": subprocess.Popen(
            [*script, "--http", http[0], "--http", http[1]], stdout=subprocess.PIPE, text=True
        ),
    }
    try:
        for prober in probers.values():
            assert prober.stdout is not None
            before = [json.loads(prober.stdout.readline()) for _ in range(2)]
            assert all(r["ok"] for r in before), before
        worker.kill()  # SIGKILL: no chance to remove its entry or close its port
        worker.wait()
        killed_at = time.time()
        outputs = {kind: prober.communicate(timeout=60)[0] for kind, prober in probers.items()}
    finally:
        for prober in probers.values():
            if prober.poll() is None:
                prober.kill()
                prober.communicate()
    for kind, prober in probers.items():
        assert prober.returncode == 1, kind  # a probe failed: the kubelet would act
        after = [json.loads(line) for line in outputs[kind].splitlines()]
        assert [r["ok"] for r in after].count(False) == 1  # it stopped at the first failure
        # each probe that started after the kill (HTTP) or after the worker's entry expired
        # (exec) failed: each fails at its first run in its period once the worker is gone
        down_at = killed_at + (ttl if kind == "exec" else 0.0)
        for result in after:
            if result["at"] > down_at + 0.05:
                assert not result["ok"], result
        assert after[-1]["at"] < down_at + 2 * period + 10  # 10: a slow exec's timeout


def test_json_logs_are_one_object_per_line_with_the_job_fields(
    url: str, queue_name: str, start_worker: Any
) -> None:
    run(_put(url, queue_name, ["good", "bad"]))
    worker = start_worker(
        queue_name, "--log-format", "json", "--log-level", "debug", handler="handlers:flaky"
    )

    async def retried() -> bool:
        async with RedisJobQueue(queue_name, url=url) as queue:
            return (await queue.stats()).delayed == 1

    wait_for(lambda: run(retried()))
    worker.send_signal(signal.SIGTERM)
    _, stderr = worker.communicate(timeout=30)
    assert worker.returncode == 0, stderr
    records = [json.loads(line) for line in stderr.splitlines()]  # every line parses
    assert all({"time", "level", "logger", "message"} <= set(r) for r in records)
    ours = [r for r in records if r["logger"] == "aioredisjobqueue"]
    retry = next(r for r in ours if r["level"] == "warning" and r.get("event") == "retry")
    assert retry["queue"] == queue_name
    assert retry["delivery"] == 1 and len(retry["job_id"]) == 24
    assert retry["error"] == "ValueError: bad payload"
    assert retry["duration"] >= 0 and retry["retry_in"] >= 0
    assert "ValueError: bad payload" in retry["traceback"]
    complete = next(r for r in ours if r.get("event") == "complete")
    assert complete["level"] == "debug" and complete["duration"] >= 0
    assert any("stopped" in r["message"] and r["queue"] == queue_name for r in ours)
