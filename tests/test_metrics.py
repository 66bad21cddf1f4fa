"""Prometheus metrics: counters and histograms moved by a Worker's events, queue gauges read
from Redis, and /metrics of a command-line worker scraped while its jobs run."""

from __future__ import annotations

import signal
import subprocess
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import MakeQueue, StartCli
from helpers import eventually, eventually_sync, server_clock_passes, server_time_us
from prometheus_client import CollectorRegistry
from prometheus_client.parser import text_string_to_metric_families
from test_cli import assert_one_line_error, cli, run
from test_cli_ops import _put, get
from test_worker import running

from aioredisjobqueue import DoNotRetry, Job, RedisJobQueue, Tasks, Worker
from aioredisjobqueue.metrics import Metrics
from aioredisjobqueue.testing import RedisServer, free_port


def value(registry: CollectorRegistry, name: str, **labels: str) -> float:
    found = registry.get_sample_value(name, labels)
    return 0.0 if found is None else found


async def test_a_workers_events_move_the_counters_and_histograms(make_queue: MakeQueue) -> None:
    queue = make_queue()
    registry = CollectorRegistry()
    metrics = Metrics(registry, task_of=lambda job: job.payload.get("task"))
    await queue.put_many([{"task": "mail", "n": n} for n in range(3)])
    await queue.put_many([{"task": "bill", "fail": "once"}, {"task": "bill", "fail": "always"}])

    async def handle(job: Job) -> None:
        if job.payload.get("fail") == "always":
            raise DoNotRetry("no way")
        if job.payload.get("fail") == "once" and job.deliveries == 1:
            raise RuntimeError("first time fails")

    worker = Worker(queue, handle, retry_delay=0, retry_max_delay=0, on_event=metrics.on_event)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 4 and worker.counts.get("dead"))
    q = queue.name
    assert value(registry, "aioredisjobqueue_jobs_started_total", queue=q, task="mail") == 3
    assert value(registry, "aioredisjobqueue_jobs_completed_total", queue=q, task="mail") == 3
    assert value(registry, "aioredisjobqueue_jobs_started_total", queue=q, task="bill") == 3
    assert value(registry, "aioredisjobqueue_jobs_completed_total", queue=q, task="bill") == 1
    assert value(registry, "aioredisjobqueue_jobs_retried_total", queue=q, task="bill") == 1
    assert value(registry, "aioredisjobqueue_jobs_dead_lettered_total", queue=q, task="bill") == 1
    assert value(registry, "aioredisjobqueue_jobs_lock_lost_total", queue=q, task="bill") == 0
    durations = "aioredisjobqueue_job_duration_seconds_count"
    assert value(registry, durations, queue=q, task="mail", outcome="complete") == 3
    assert value(registry, durations, queue=q, task="bill", outcome="retry") == 1
    assert value(registry, durations, queue=q, task="bill", outcome="dead") == 1
    pickups = "aioredisjobqueue_job_pickup_delay_seconds_count"
    assert value(registry, pickups, queue=q, task="mail") == 3


async def test_jobs_of_typed_tasks_are_labelled_with_their_task(make_queue: MakeQueue) -> None:
    queue = make_queue()
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    tasks = Tasks()

    @tasks.task
    async def send_email(to: str) -> None:
        pass

    await send_email.put(queue, to="ada@example.com")
    await queue.put("plain")
    worker = Worker(queue, tasks, on_event=metrics.on_event)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == worker.counts.get("dead") == 1)
    completed = "aioredisjobqueue_jobs_completed_total"
    assert value(registry, completed, queue=queue.name, task="send_email") == 1
    # the plain job is no task's: dead-lettered at once, with no task label
    assert (
        value(registry, "aioredisjobqueue_jobs_dead_lettered_total", queue=queue.name, task="") == 1
    )


@pytest.mark.real_redis
async def test_pickup_delay_is_how_long_a_job_had_been_due(real_queue: RedisJobQueue) -> None:
    await real_queue.put("waits")
    put_at = await server_time_us(real_queue.redis)
    await server_clock_passes(real_queue.redis, put_at + 300_000)
    registry = CollectorRegistry()
    metrics = Metrics(registry)

    async def handle(job: Job) -> None:
        pass

    worker = Worker(real_queue, handle, on_event=metrics.on_event)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 1)
    pickups = "aioredisjobqueue_job_pickup_delay_seconds_sum"
    total = value(registry, pickups, queue=real_queue.name, task="")
    assert 0.3 <= total < 60
    # the job itself says it too
    await real_queue.put("again")
    job = await real_queue.get()
    assert job is not None and 0 <= job.pickup_delay < 60


async def test_collect_sets_the_gauges_of_queues(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put_many(["a", "b", "c"])
    await queue.put("later", delay=60)
    assert await queue.get(lock_timeout=60_000) is not None
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    await metrics.collect([queue])
    jobs = "aioredisjobqueue_queue_jobs"
    states = {s: value(registry, jobs, queue=queue.name, state=s) for s in ("ready", "locked")}
    states |= {s: value(registry, jobs, queue=queue.name, state=s) for s in ("delayed", "dead")}
    assert states == {"ready": 2, "locked": 1, "delayed": 1, "dead": 0}
    assert value(registry, "aioredisjobqueue_queue_workers", queue=queue.name) == 0


def test_one_metrics_per_registry_and_bad_arguments() -> None:
    registry = CollectorRegistry()
    Metrics(registry)
    with pytest.raises(ValueError, match="Duplicated timeseries"):
        Metrics(registry)
    with pytest.raises(TypeError, match="task_of must be callable, got 'task'"):
        Metrics(CollectorRegistry(), task_of="task")  # type: ignore[arg-type]
    Metrics(CollectorRegistry(), namespace="other")


# -- the command-line worker ----------------------------------------------------------------


@pytest.fixture
def url(redis_server: RedisServer) -> str:
    return redis_server.url


@pytest.fixture
def worker_process(
    tmp_path: Path, url: str, start_cli: StartCli
) -> Callable[..., subprocess.Popen[str]]:
    (tmp_path / "handlers.py").write_text(
        "async def handle(job):\n    if job.payload == 'bad':\n        raise ValueError('bad')\n"
    )

    def start(*args: str) -> subprocess.Popen[str]:
        env = {"REDIS_URL": url}
        return start_cli("worker", "handlers:handle", *args, cwd=tmp_path, env=env)

    return start


Samples = dict[tuple[str, tuple[tuple[str, str], ...]], float]


def key(name: str, **labels: str) -> tuple[str, tuple[tuple[str, str], ...]]:
    return name, tuple(sorted(labels.items()))


def scrape(port: int) -> Samples:
    """The samples of the worker's /metrics; empty while it does not answer yet."""
    status, text = get(f"http://127.0.0.1:{port}/metrics")
    if status == 0:
        return {}
    assert status == 200, text
    families = text_string_to_metric_families(text)
    return {key(s.name, **s.labels): s.value for family in families for s in family.samples}


@pytest.mark.real_redis
def test_metrics_of_a_running_worker_move_as_its_jobs_run(
    url: str, queue_name: str, worker_process: Any
) -> None:
    port = free_port()
    worker = worker_process("--queue", queue_name, "--metrics-port", str(port),
                            "--http-host", "127.0.0.1", "--retry-delay", "0")  # fmt: skip
    run(_put(url, queue_name, ["a", "b"]))
    q = {"queue": queue_name, "task": ""}
    completed = key("aioredisjobqueue_jobs_completed_total", **q)
    eventually_sync(lambda: scrape(port).get(completed) == 2, "two jobs completed")
    run(_put(url, queue_name, ["c", "d", "e", "bad"]))
    eventually_sync(lambda: scrape(port).get(completed) == 5, "three more completed")
    samples = scrape(port)
    assert samples[key("aioredisjobqueue_jobs_started_total", **q)] >= 6
    assert samples[key("aioredisjobqueue_jobs_retried_total", **q)] >= 1
    durations = key("aioredisjobqueue_job_duration_seconds_count", **q, outcome="complete")
    assert samples[durations] == 5
    assert samples[key("aioredisjobqueue_job_pickup_delay_seconds_count", **q)] >= 6
    # the queue's gauges, read at the scrape: the bad job waits for its retry or runs
    states = ("ready", "locked", "delayed", "dead")
    jobs = [samples[key("aioredisjobqueue_queue_jobs", queue=queue_name, state=s)] for s in states]
    assert sum(jobs) == 1
    assert samples[key("aioredisjobqueue_queue_workers", queue=queue_name)] == 1
    assert any(name == "process_resident_memory_bytes" for name, _ in samples)
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=30) == 0


def test_metrics_port_without_prometheus_client_fails_in_one_line(
    tmp_path: Path, url: str, queue_name: str
) -> None:
    shadow = tmp_path / "prometheus_client"
    shadow.mkdir()
    (shadow / "__init__.py").write_text(
        "raise ModuleNotFoundError('No module named prometheus_client', name='prometheus_client')"
    )
    result = cli("worker", "asyncio:sleep", "--queue", queue_name, "--metrics-port", "0",
                 url=url, env={"PYTHONPATH": str(tmp_path)})  # fmt: skip
    assert_one_line_error(result, 2, "--metrics-port needs prometheus-client")
