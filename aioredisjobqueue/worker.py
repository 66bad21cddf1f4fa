"""Worker: run a handler on the jobs of one or several queues, with lock renewal, retries,
a lifespan and graceful stop.

A handler that returns completes its job; one that raises releases it with a retry delay
from ``backoff`` (exponential, full jitter, capped), up to ``max_deliveries``. While a
handler runs, its lock is extended every third of ``lock_timeout``, so a handler may run far
longer than the lock; if another consumer took the job meanwhile, the handler is cancelled.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Iterator, Mapping, Sequence
from contextlib import ExitStack, contextmanager

import anyio
import anyio.abc
import anyio.lowlevel

from . import _args
from ._events import DONE, EventHook, EventKind, JobEvent
from ._fair import queues_of, warn_of_unknown
from ._feed import Feed
from ._handler import Handler, check_handler, hooks_of
from ._heartbeat import Heartbeat
from ._job import Job
from ._lifespan import Lifespan, current_job, lifespan_state, worker_state
from ._link import QueueLink
from ._logfields import worker_fields
from ._outcome import DoNotRetry, RetryAfter
from ._periodic import HasSchedules, Periodic, check_schedules, run_schedules
from ._queue import RedisJobQueue
from ._renew import renew_locks
from ._running import JobOptions, OptionsByJob, Running
from ._slots import Slots
from ._tasks import raise_single

__all__ = [
    "DEFAULT_MAX_DELIVERIES",
    "DoNotRetry",
    "EventKind",
    "Handler",
    "JobEvent",
    "RetryAfter",
    "Worker",
    "current_job",
    "worker_state",
]

logger = logging.getLogger("aioredisjobqueue")

# How often the Worker runs a job before it dead-letters it, unless told otherwise.
DEFAULT_MAX_DELIVERIES = 5

# How a worker waits for jobs when the queues are idle (seconds): as consume()'s defaults.
_MIN_POLL = 0.01
_MAX_POLL = 1.0


class Worker:
    """Runs ``handler`` on the jobs of ``queue`` (or of several, ``queues=[...]``), up to
    ``concurrency`` at once in all.

    ``handler`` is an async function taking a ``Job`` (or a ``Tasks`` registry): its
    return completes the job, an exception releases it for a retry after
    ``retry_delay * 2**(deliveries-1)`` seconds at most (full jitter, capped at
    ``retry_max_delay``). A job that fails on its ``max_deliveries``-th delivery (default
    ``DEFAULT_MAX_DELIVERIES``, 5; None: no limit but the queue's) becomes a dead letter,
    and its traceback is logged. ``DoNotRetry`` dead-letters at once; ``RetryAfter(s)``
    retries after ``s`` seconds. ``timeout`` (seconds, default none) cancels a handler that
    runs longer and retries its job. With ``results``, what a handler returns is kept as its
    job's result (for ``result_ttl`` seconds; None: the queue's default).

    With several queues, jobs are taken fairly: each fill of free slots starts at the next
    queue in turn and offers every queue its share. ``lifespan`` is a function returning an
    async context manager: it is entered before the first job and left after the last, and
    handlers reach its value with ``worker_state()``. ``periodic`` schedules (``Periodic``,
    and those of a ``Tasks`` handler) queue their jobs on each tick, once per tick across
    every worker that has them.

    Jobs are taken under a ``lock_timeout`` ms lock, renewed every third of it while the
    handler runs. ``grace`` is how many seconds running handlers get to finish when the
    worker stops. ``on_event`` (a function or an async function, or a list of them, called
    in order) receives a ``JobEvent`` for each job's start and outcome; an exception it
    raises is logged and ignored.

    A returning handler's completion goes with the worker's next take, in one round trip,
    and the worker holds up to ``prefetch`` jobs (default ``min(concurrency, 10)``; 0: none)
    beyond its free slots, locked and renewed like running ones; those not started when it
    stops or is cancelled are given back at once, uncounted.

    While it runs, the worker reports itself in each of its queues every ``heartbeat``
    seconds (see ``queue.workers()``); its entry expires three heartbeats after the last
    one, and is removed at once when ``run()`` returns.
    """

    def __init__(
        self,
        queue: RedisJobQueue | Sequence[RedisJobQueue] | None = None,
        handler: Handler | None = None,
        *,
        queues: Sequence[RedisJobQueue] | None = None,
        concurrency: int = 10,
        lock_timeout: float = 30_000,
        grace: float = 30.0,
        retry_delay: float = 1.0,
        retry_max_delay: float = 300.0,
        max_deliveries: int | None = DEFAULT_MAX_DELIVERIES,
        timeout: float | None = None,
        results: bool = False,
        result_ttl: float | None = None,
        lifespan: Lifespan | None = None,
        periodic: Sequence[Periodic] = (),
        on_event: EventHook | Sequence[EventHook] | None = None,
        heartbeat: float = 2.0,
        prefetch: int | None = None,
    ) -> None:
        self._queues = queues_of(queue, queues)
        self._handler = check_handler(handler)
        self._hooks = hooks_of(on_event)
        if lifespan is not None and not callable(lifespan):
            raise TypeError(
                f"lifespan must be a function returning an async context manager, got {lifespan!r}"
            )
        self._concurrency = _args.positive_int(concurrency, "concurrency")
        self._prefetch = (
            _default_prefetch(self._concurrency)
            if prefetch is None
            else _args.count(prefetch, "prefetch")
        )
        self._lock_ms = _args.lock_ms(lock_timeout)
        self._grace = _args.seconds(grace, "grace")
        self._options = JobOptions.checked(
            timeout=timeout,
            max_deliveries=max_deliveries,
            retry_delay=retry_delay,
            retry_max_delay=retry_max_delay,
            keep_result=bool(results),
            result_ttl=result_ttl,
        )
        self._lifespan = lifespan
        # a handler that chooses each job's options (a Tasks registry), checked once
        self._chooser = self._handler if isinstance(self._handler, OptionsByJob) else None
        own: list[Periodic] = (
            self._handler.periodic if isinstance(self._handler, HasSchedules) else []
        )
        self._schedules = check_schedules([*periodic, *own], [q.name for q in self._queues])
        self._started = False
        self._stopping = False
        self._aborted = False
        self._stop_grace = self._grace
        self._feed: Feed | None = None
        self._runners: anyio.CancelScope | None = None  # a second stop() cancels it
        self._wind_down: anyio.CancelScope | None = None
        self._stop_requested = anyio.Event()
        self._ended = False
        self._heartbeat = Heartbeat(
            list(self._queues),
            self,
            concurrency=self._concurrency,
            interval=_args.positive_seconds(heartbeat, "heartbeat"),
        )
        self._slots = Slots(self._handler, self._hooks, self._heartbeat.id)

    @property
    def queue(self) -> RedisJobQueue:
        """The queue the worker takes jobs from (the first one, with several)."""
        return self._queues[0]

    @property
    def queues(self) -> tuple[RedisJobQueue, ...]:
        """Every queue the worker takes jobs from."""
        return self._queues

    @property
    def id(self) -> str:
        """The worker's id in its queues' worker lists (``queue.workers()``)."""
        return self._heartbeat.id

    @property
    def alive(self) -> bool:
        """True while ``run()`` runs and its loops turn: its heartbeat loop turned within
        the last three heartbeats (for liveness probes)."""
        return self._started and not self._ended and self._heartbeat.alive()

    @property
    def counts(self) -> Mapping[str, int]:
        """How many events of each kind (``"complete"``, ``"retry"``, …) this worker had."""
        return dict(self._slots.counts)

    @property
    def active(self) -> int:
        """How many handlers are running now."""
        return len(self._slots.running)

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called."""
        return self._stopping

    @property
    def _fields(self) -> dict[str, object]:
        """The ``extra=`` of the worker's own log records."""
        return worker_fields(self.id, [q.name for q in self._queues])

    @property
    def _label(self) -> str:
        names = ", ".join(repr(q.name) for q in self._queues)
        return f"worker on queue{'s' if len(self._queues) > 1 else ''} {names}"

    def stop(self, grace: float | None = None) -> None:
        """Stop taking jobs; give running handlers ``grace`` seconds to finish (default: the
        constructor's), then cancel them and release their jobs at once, uncounted.

        A second call stops at once: handlers are cancelled and their jobs come back when
        their locks expire. Call it from the worker's event loop (a signal handler set with
        ``loop.add_signal_handler`` is fine). ``run()`` returns once everything stopped.
        """
        seconds = self._grace if grace is None else _args.seconds(grace, "grace")
        if not self._stopping:
            self._stopping = True
            self._stop_grace = seconds
            logger.info(
                "%s stopping: %d running jobs get %g s to finish",
                self._label,
                len(self._slots.running),
                seconds,
                extra=self._fields,
            )
            self._stop_requested.set()
            if self._feed is not None:
                self._feed.stop()
            return
        if self._aborted:
            return
        self._aborted = True
        logger.warning(
            "%s stopping at once: %d running jobs come back when their locks expire",
            self._label,
            len(self._slots.running),
            extra=self._fields,
        )
        if self._runners is not None:
            self._runners.cancel()  # the feeder and every slot, settling included
        if self._wind_down is not None:
            self._wind_down.cancel()

    async def run(self, *, handle_signals: bool = False) -> None:
        """Take and handle jobs until ``stop()``; return when every handler has ended.

        The lifespan (if any) is entered first and left last. With ``handle_signals``,
        SIGTERM and SIGINT call ``stop()`` (a second one stops at once). Redis outages and
        transient replies (BUSY, LOADING, NOSCRIPT, READONLY and the other failover replies)
        are waited out; an error reply of Redis (``ResponseError``, e.g. OOM) ends the run and
        is raised, and the jobs held come back when their locks expire. A worker runs once.
        """
        if self._started:
            raise RuntimeError("a Worker runs once: make a new one")
        self._started = True
        logger.info(
            "%s started: concurrency %d, lock_timeout %d ms, max_deliveries %s",
            self._label,
            self._concurrency,
            self._lock_ms,
            self._options.max_deliveries or "no limit",
            extra=self._fields,
        )
        try:
            with self._signals(handle_signals):
                async with lifespan_state(self._lifespan):
                    links = [q._link(self._lock_ms, _MIN_POLL, _MAX_POLL) for q in self._queues]
                    await raise_single(self._run(links))
        finally:
            self._ended = True
            counts = self._slots.counts
            logger.info(
                "%s stopped: %s",
                self._label,
                ", ".join(f"{counts[k]} {w}" for k, w in DONE.items() if counts[k]) or "no jobs",
                extra=self._fields,
            )

    async def _run(self, links: list[QueueLink]) -> None:
        feed = self._feed = Feed(
            links, prefetch=self._prefetch, lock_ms=self._lock_ms, start=self._taken
        )
        if self._stopping:
            feed.stop()
        async with anyio.create_task_group() as tasks:
            tasks.start_soon(renew_locks, self._held, self._lock_ms)
            tasks.start_soon(warn_of_unknown, links)  # beside the first take, not before
            tasks.start_soon(self._heartbeat.run)
            by_name = {link.name: link for link in links}
            tasks.start_soon(
                run_schedules, self._schedules, lambda p: by_name.get(p.queue or "", links[0])
            )
            async with anyio.create_task_group() as runners:
                self._runners = runners.cancel_scope
                if self._aborted:
                    runners.cancel_scope.cancel()
                # ``concurrency`` slots run the handlers, so at most that many run at once
                for _ in range(self._concurrency):
                    runners.start_soon(self._slots.run, feed)
                with ExitStack() as entered:
                    for link in links:
                        entered.enter_context(link)
                    tasks.start_soon(self._stop_handlers)
                    await feed.run(lambda: not self._slots.running)
                runners.cancel_scope.cancel()  # the slots wait for jobs that never come
            tasks.cancel_scope.cancel()  # the renewer; every handler has ended

    def _held(self) -> list[Running]:
        """Every job whose lock the worker keeps: running, or taken and not started."""
        running = self._slots.running
        return [*running, *self._feed.held()] if self._feed else list(running)

    def _taken(self, link: QueueLink, job: Job, lock_until: float) -> Running:
        options = (
            self._options
            if self._chooser is None
            else self._chooser.job_options(job, self._options)
        )
        return Running(job, link, options, lock_until)

    @contextmanager
    def _signals(self, enabled: bool) -> Iterator[None]:
        if not enabled:
            yield
            return
        loop = asyncio.get_running_loop()
        signals = (signal.SIGTERM, signal.SIGINT)
        for sig in signals:
            loop.add_signal_handler(sig, self._on_signal, sig)
        try:
            yield
        finally:
            for sig in signals:
                loop.remove_signal_handler(sig)

    def _on_signal(self, sig: signal.Signals) -> None:
        logger.info("%s received %s", self._label, sig.name, extra=self._fields)
        self.stop()

    async def _stop_handlers(self) -> None:
        """Once stopped: wait the grace period, then cancel the handlers still running
        (their jobs are given back; a second ``stop()`` cuts all of it short)."""
        assert self._feed is not None
        await self._stop_requested.wait()
        with anyio.CancelScope() as self._wind_down:
            if self._aborted:
                self._wind_down.cancel()
            with anyio.move_on_after(self._stop_grace):
                await self._slots.idle.wait()
            self._slots.stop_handlers()
            await self._slots.idle.wait()
        self._feed.poke()  # to see that every job has its outcome

    def __repr__(self) -> str:
        names = [q.name for q in self._queues]
        shown = repr(names[0]) if len(names) == 1 else repr(names)
        return (
            f"Worker(queue={shown}, concurrency={self._concurrency}, "
            f"lock_timeout={self._lock_ms}, running={len(self._slots.running)})"
        )


def _default_prefetch(concurrency: int) -> int:
    """How many jobs a Worker holds beyond its free slots, unless told: a few."""
    return min(concurrency, 10)
