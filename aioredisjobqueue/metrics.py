"""Prometheus metrics of workers and queues (``pip install 'aioredisjobqueue[metrics]'``).

    from aioredisjobqueue.metrics import Metrics

    metrics = Metrics()                  # on prometheus_client's default registry,
                                         # or Metrics(registry=your_registry)
    worker = Worker(queue, handler, on_event=metrics.on_event)
    ...
    await metrics.collect([queue])       # the queues' gauges, now (e.g. before a scrape),
    await metrics.watch([queue], 15)     # or every 15 s, in a task of yours

Counters and histograms move as the worker's jobs run; the gauges of queues (jobs by
state, live workers) are read from Redis by ``collect`` or ``watch``. The command-line
worker serves them with ``--metrics-port``, collecting the gauges at each scrape.

Every job metric has the labels ``queue`` and ``task``: the task's name for the jobs of a
``Tasks`` registry (or what ``task_of(job)`` returns), else empty.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence

import anyio

try:
    import prometheus_client
    from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ModuleNotFoundError(
        "aioredisjobqueue.metrics needs prometheus-client: pip install 'aioredisjobqueue[metrics]'",
        name="prometheus_client",
    ) from exc

from . import _args
from ._events import JobEvent
from ._job import Job
from ._logfields import task_name
from ._queue import RedisJobQueue
from ._transient import CAUGHT, is_transient

__all__ = ["DELAY_BUCKETS", "DURATION_BUCKETS", "Metrics"]

logger = logging.getLogger("aioredisjobqueue")

# Handler durations and pickup delays, in seconds: from milliseconds to an hour.
DURATION_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600)
DELAY_BUCKETS = (0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 30, 60, 300, 900, 3600)

# The counter of each outcome, by event kind: name and help
_OUTCOMES = {
    "complete": ("jobs_completed", "Jobs whose handler returned and that were completed."),
    "retry": ("jobs_retried", "Jobs whose handler failed, released for a later retry."),
    "dead": ("jobs_dead_lettered", "Jobs moved to the dead letters."),
    "lock_lost": ("jobs_lock_lost", "Jobs another consumer took while their handler ran."),
    "stopped": ("jobs_stopped", "Jobs given back unfinished because their worker stopped."),
}


class Metrics:
    """The metrics of workers and queues, on ``registry`` (default: prometheus_client's
    global ``REGISTRY``), named ``<namespace>_...``.

    Counters (labels ``queue``, ``task``): ``jobs_started_total``, ``jobs_completed_total``,
    ``jobs_retried_total``, ``jobs_dead_lettered_total``, ``jobs_lock_lost_total``,
    ``jobs_stopped_total``. Histograms: ``job_duration_seconds`` (labels ``queue``,
    ``task``, ``outcome``: how long handlers ran) and ``job_pickup_delay_seconds`` (how long
    jobs had been due when a worker took them). Gauges, set by ``collect``: ``queue_jobs``
    (labels ``queue``, ``state``: ready, locked, delayed, dead) and ``queue_workers`` (live
    workers of each queue).

    ``task_of(job)`` names the task of a job for the ``task`` label (None or empty: none);
    by default the name of a ``Tasks`` registry's task (``{"task": name, ...}`` payloads).
    One ``Metrics`` per registry: a second raises ``ValueError`` (duplicated time series).
    """

    def __init__(
        self,
        registry: CollectorRegistry | None = prometheus_client.REGISTRY,
        *,
        namespace: str = "aioredisjobqueue",
        task_of: Callable[[Job], str | None] | None = task_name,
    ) -> None:
        if task_of is not None and not callable(task_of):
            raise TypeError(f"task_of must be callable, got {task_of!r}")
        self.registry = registry
        self._task_of = task_of
        labels = ("queue", "task")
        self._started = Counter(
            "jobs_started",
            "Jobs whose handler started.",
            labels,
            namespace=namespace,
            registry=registry,
        )
        self._outcomes = {
            kind: Counter(name, text, labels, namespace=namespace, registry=registry)
            for kind, (name, text) in _OUTCOMES.items()
        }
        self._duration = Histogram(
            "job_duration_seconds",
            "How long handlers ran, by outcome.",
            (*labels, "outcome"),
            buckets=DURATION_BUCKETS,
            namespace=namespace,
            registry=registry,
        )
        self._pickup = Histogram(
            "job_pickup_delay_seconds",
            "How long jobs had been due when a worker took them.",
            labels,
            buckets=DELAY_BUCKETS,
            namespace=namespace,
            registry=registry,
        )
        self._queue_jobs = Gauge(
            "queue_jobs", "Jobs of a queue by state, at the last collect.", ("queue", "state"),
            namespace=namespace, registry=registry,
        )  # fmt: skip
        self._queue_workers = Gauge(
            "queue_workers", "Live workers of a queue, at the last collect.", ("queue",),
            namespace=namespace, registry=registry,
        )  # fmt: skip
        self._failing = False

    def _labels(self, job: Job) -> tuple[str, str]:
        task = self._task_of(job) if self._task_of is not None else None
        return job.queue.name, task or ""

    def on_event(self, event: JobEvent) -> None:
        """The ``on_event`` hook of a ``Worker``: counts and times its jobs.

        ``Worker(..., on_event=metrics.on_event)``, or in a list with hooks of yours.
        """
        labels = self._labels(event.job)
        if event.kind == "start":
            self._started.labels(*labels).inc()
            self._pickup.labels(*labels).observe(event.job.pickup_delay)
            return
        outcome = self._outcomes.get(event.kind)
        if outcome is not None:
            outcome.labels(*labels).inc()
        if event.duration is not None:
            self._duration.labels(*labels, event.kind).observe(event.duration)

    async def collect(self, queues: Sequence[RedisJobQueue]) -> None:
        """Set the gauges of ``queues`` from Redis now: jobs by state and live workers.

        Raises what the queue's calls raise (a Redis connection error, say).
        """
        for queue in queues:
            stats = await queue.stats()
            workers = await queue.workers()
            for state in ("ready", "locked", "delayed", "dead"):
                self._queue_jobs.labels(queue.name, state).set(getattr(stats, state))
            self._queue_workers.labels(queue.name).set(len(workers))

    async def watch(self, queues: Sequence[RedisJobQueue], interval: float = 15.0) -> None:
        """``collect`` every ``interval`` seconds until cancelled; Redis outages are waited
        out (logged once), the gauges keeping their last values."""
        seconds = _args.positive_seconds(interval, "interval")
        while True:
            try:
                await self.collect(queues)
            except CAUGHT as exc:
                if not is_transient(exc):
                    raise
                if not self._failing:
                    logger.warning("metrics: could not read the queues, retrying: %r", exc)
                self._failing = True
            else:
                self._failing = False
            await anyio.sleep(seconds)

    def exposition(self) -> tuple[bytes, str]:
        """The registry's metrics in Prometheus' text format, and its content type."""
        registry = self.registry if self.registry is not None else prometheus_client.REGISTRY
        return prometheus_client.generate_latest(registry), prometheus_client.CONTENT_TYPE_LATEST
