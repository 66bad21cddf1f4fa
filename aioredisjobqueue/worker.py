"""Worker: run a handler on a queue's jobs, with lock renewal, retries and graceful stop.

A handler that returns completes its job; one that raises releases it with a retry delay
from ``backoff`` (exponential, full jitter, capped). While a handler runs, its lock is
extended every third of ``lock_timeout``, so a handler may run far longer than the lock;
if another consumer took the job meanwhile, the handler is cancelled.
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import signal
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TypeVar

import anyio
import anyio.abc
import anyio.lowlevel

from . import _args
from ._backoff import backoff
from ._errors import LockLostError
from ._events import DONE, EventHook, EventKind, JobEvent
from ._heartbeat import Heartbeat
from ._job import Job
from ._poll import TRANSIENT, Poller
from ._queue import RedisJobQueue
from ._tasks import cancel_requested

__all__ = ["EventKind", "Handler", "JobEvent", "Worker"]

logger = logging.getLogger("aioredisjobqueue")

T = TypeVar("T")

Handler = Callable[[Job], Awaitable[object]]

# How a worker waits for jobs when the queue is idle (seconds): as consume()'s defaults.
_MIN_POLL = 0.01
_MAX_POLL = 1.0


@dataclass(eq=False)
class _Running:
    """A job whose handler runs: the scopes that stop it, and what stopped it."""

    job: Job
    lock_until: float  # time.monotonic() at which the lock expires, as far as we know
    handler: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    everything: anyio.CancelScope = field(default_factory=anyio.CancelScope)
    finished: bool = False  # the handler has returned or raised
    lock_lost: bool = False
    stopped: bool = False
    renewal_failed: bool = False  # the last renewal met a dropped connection


class Worker:
    """Runs ``handler`` on the jobs of ``queue``, up to ``concurrency`` at once.

    ``handler`` is an async function taking a ``Job``: its return completes the job, an
    exception releases it for a retry after ``retry_delay * 2**(deliveries-1)`` seconds at
    most (full jitter, capped at ``retry_max_delay``). With the queue's ``max_deliveries``,
    a job that keeps failing becomes a dead letter. ``timeout`` (seconds, default none)
    cancels a handler that runs longer and retries its job.

    Jobs are taken under a ``lock_timeout`` ms lock, renewed every third of it while the
    handler runs. ``grace`` is how many seconds running handlers get to finish when the
    worker stops. ``on_event`` (a function or an async function, or a list of them, called
    in order) receives a ``JobEvent`` for each job's start and outcome; an exception it
    raises is logged and ignored.

    While it runs, the worker reports itself in the queue every ``heartbeat`` seconds (see
    ``queue.workers()``); its entry expires three heartbeats after the last one, and is
    removed at once when ``run()`` returns.
    """

    def __init__(
        self,
        queue: RedisJobQueue,
        handler: Handler,
        *,
        concurrency: int = 10,
        lock_timeout: float = 30_000,
        grace: float = 30.0,
        retry_delay: float = 1.0,
        retry_max_delay: float = 300.0,
        timeout: float | None = None,
        on_event: EventHook | Sequence[EventHook] | None = None,
        heartbeat: float = 2.0,
    ) -> None:
        if not isinstance(queue, RedisJobQueue):
            raise TypeError(f"queue must be a RedisJobQueue, got {queue!r}")
        if not callable(handler) or (
            inspect.isfunction(handler) and not inspect.iscoroutinefunction(handler)
        ):
            raise TypeError(f"handler must be an async function taking a Job, got {handler!r}")
        hooks: Sequence[EventHook] = ()
        if callable(on_event):
            hooks = (on_event,)
        elif isinstance(on_event, Sequence) and all(callable(h) for h in on_event):
            hooks = on_event
        elif on_event is not None:
            raise TypeError(f"on_event must be callable or a list of callables, got {on_event!r}")
        self._queue = queue
        self._handler = handler
        self._concurrency = _args.positive_int(concurrency, "concurrency")
        self._lock_ms = _args.lock_ms(lock_timeout)
        self._grace = _args.seconds(grace, "grace")
        self._retry_delay = _args.seconds(retry_delay, "retry_delay")
        self._retry_max_delay = _args.seconds(retry_max_delay, "retry_max_delay")
        if self._retry_max_delay < self._retry_delay:
            raise ValueError(
                f"retry_max_delay must be >= retry_delay, got retry_max_delay="
                f"{retry_max_delay!r} < retry_delay={retry_delay!r}"
            )
        self._timeout = None if timeout is None else _args.positive_seconds(timeout, "timeout")
        self._hooks: tuple[EventHook, ...] = tuple(hooks)
        self._counts: Counter[str] = Counter()
        self._running: set[_Running] = set()
        self._free = self._concurrency  # slots with no job handed to them
        self._slot_freed = anyio.Event()
        self._idle = anyio.Event()
        self._idle.set()
        self._started = False
        self._stopping = False
        self._aborted = False
        self._stop_grace = self._grace
        self._feed: anyio.CancelScope | None = None  # the feeder: a second stop() cancels it
        self._waiting: anyio.CancelScope | None = None  # a wait of the feeder: stop() cancels it
        self._wind_down: anyio.CancelScope | None = None
        self._ended = False
        self._heartbeat = Heartbeat(
            [queue],
            self,
            concurrency=self._concurrency,
            interval=_args.positive_seconds(heartbeat, "heartbeat"),
        )

    @property
    def queue(self) -> RedisJobQueue:
        """The queue the worker takes jobs from."""
        return self._queue

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
        return dict(self._counts)

    @property
    def active(self) -> int:
        """How many handlers are running now."""
        return len(self._running)

    @property
    def stopping(self) -> bool:
        """True once ``stop()`` was called."""
        return self._stopping

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
                "worker on queue %r stopping: %d running jobs get %g s to finish",
                self._queue.name,
                len(self._running),
                seconds,
            )
            if self._waiting is not None:
                self._waiting.cancel()
            return
        if self._aborted:
            return
        self._aborted = True
        logger.warning(
            "worker on queue %r stopping at once: %d running jobs come back when their "
            "locks expire",
            self._queue.name,
            len(self._running),
        )
        if self._feed is not None:
            self._feed.cancel()
        if self._wind_down is not None:
            self._wind_down.cancel()
        for running in self._running:
            running.everything.cancel()

    async def run(self, *, handle_signals: bool = False) -> None:
        """Take and handle jobs until ``stop()``; return when every handler has ended.

        With ``handle_signals``, SIGTERM and SIGINT call ``stop()`` (a second one stops at
        once). Redis outages are waited out; an error reply of Redis (``ResponseError``,
        e.g. OOM) ends the run and is raised, and the jobs held come back when their locks
        expire. A worker runs once.
        """
        if self._started:
            raise RuntimeError("a Worker runs once: make a new one")
        self._started = True
        logger.info(
            "worker on queue %r started: concurrency %d, lock_timeout %d ms",
            self._queue.name,
            self._concurrency,
            self._lock_ms,
        )
        try:
            with self._signals(handle_signals):
                async with anyio.create_task_group() as tasks:
                    tasks.start_soon(self._renew)
                    tasks.start_soon(self._heartbeat.run)
                    await self._take_jobs(tasks)
                    await self._stop_handlers()
                    tasks.cancel_scope.cancel()  # the renewer; every handler has ended
        except BaseExceptionGroup as group:
            # one failure (a Redis error reply, say) is raised as itself, not as a group
            # (nor as a group in a group, from the renewer's own task group)
            failure: BaseException = group
            while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
                failure = failure.exceptions[0]
            if failure is group or isinstance(failure, BaseExceptionGroup):
                raise
            raise failure from None
        finally:
            self._ended = True
            logger.info(
                "worker on queue %r stopped: %s",
                self._queue.name,
                ", ".join(f"{self._counts[k]} {w}" for k, w in DONE.items() if self._counts[k])
                or "no jobs",
            )

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
        logger.info("worker on queue %r received %s", self._queue.name, sig.name)
        self.stop()

    async def _take_jobs(self, tasks: anyio.abc.TaskGroup) -> None:
        """Fill free slots with jobs, one get round trip for all of them, until stopped.

        ``concurrency`` slot tasks run the handlers, so at most that many run at once;
        the slots hold no task of their own between jobs. ``stop()`` interrupts the
        waits, never a get in flight: jobs taken as the worker stops are given back at
        once (a second ``stop()`` interrupts everything).
        """
        handoff: asyncio.Queue[_Running] = asyncio.Queue()
        for _ in range(self._concurrency):
            tasks.start_soon(self._slot, handoff)
        poller: Poller = self._queue._poller(self._lock_ms, _MIN_POLL, _MAX_POLL)
        with anyio.CancelScope() as self._feed, poller:
            if self._aborted:
                self._feed.cancel()
            while not self._stopping:
                if self._free == 0:
                    with self._interruptible():
                        while self._free == 0:
                            self._slot_freed = anyio.Event()
                            await self._slot_freed.wait()
                    continue
                # one turn of the event loop: handlers ending in this same turn free their
                # slots too, and one get fills them all
                await anyio.lowlevel.checkpoint()
                if self._stopping:
                    return
                signal = poller.signal()
                jobs = await poller.try_take(self._free)
                if self._stopping:
                    if jobs:
                        await self._queue._hand_back(jobs)
                    return
                if not jobs:
                    with self._interruptible():
                        await poller.pause(signal)
                    continue
                self._free -= len(jobs)
                for job in jobs:
                    if not self._running:
                        self._idle = anyio.Event()
                    running = _Running(job, time.monotonic() + self._lock_ms / 1000)
                    self._running.add(running)
                    handoff.put_nowait(running)

    @contextmanager
    def _interruptible(self) -> Iterator[None]:
        """A wait of the feeder, which ``stop()`` cuts short."""
        with anyio.CancelScope() as self._waiting:
            if self._stopping:
                self._waiting.cancel()
            yield
        self._waiting = None

    async def _slot(self, handoff: asyncio.Queue[_Running]) -> None:
        """One of the ``concurrency`` handler slots: run the jobs handed to it, one by one."""
        while True:
            running = await handoff.get()
            try:
                await self._handle(running)
            finally:
                self._free += 1
                self._slot_freed.set()

    async def _stop_handlers(self) -> None:
        """After taking stopped: wait the grace period, cancel what still runs, and wait
        while their jobs are given back (a second ``stop()`` cuts all of it short)."""
        with anyio.CancelScope() as self._wind_down:
            if self._aborted:
                self._wind_down.cancel()
            with anyio.move_on_after(self._stop_grace):
                await self._idle.wait()
            for running in self._running:
                if not running.finished:
                    running.stopped = True
                    running.handler.cancel()
            await self._idle.wait()

    async def _handle(self, running: _Running) -> None:
        job = running.job
        try:
            with running.everything:
                await self._emit(JobEvent("start", job))
                started = time.monotonic()
                error: BaseException | None = None
                with running.handler:
                    try:
                        if self._timeout is None:
                            await self._handler(job)
                        else:
                            with anyio.fail_after(self._timeout):
                                await self._handler(job)
                    except Exception as exc:
                        error = exc
                    except asyncio.CancelledError as exc:
                        if cancel_requested():
                            raise  # the worker's own cancellation, or its task's
                        # raised by the handler itself, nobody cancelled it: a failure
                        error = exc
                running.finished = True
                await self._settle(running, time.monotonic() - started, error)
        finally:
            self._running.discard(running)
            if not self._running:
                self._idle.set()

    async def _settle(
        self, running: _Running, duration: float, error: BaseException | None
    ) -> None:
        """Record the handler's outcome in Redis and tell ``on_event``."""
        job = running.job
        event: JobEvent
        try:
            if running.lock_lost:
                event = JobEvent("lock_lost", job, duration, error)
            elif running.stopped:
                await self._retrying(running, lambda: self._queue._release(job, 0, undo=True))
                event = JobEvent("stopped", job, duration, error)
            elif error is None:
                await self._retrying(running, job.complete)
                event = JobEvent("complete", job, duration)
            else:
                delay = backoff(
                    job.deliveries - 1, base=self._retry_delay, cap=self._retry_max_delay
                )
                delay_us = _args.delay_us(delay)
                waits = await self._retrying(running, lambda: self._queue._release(job, delay_us))
                if waits:
                    event = JobEvent("retry", job, duration, error, delay)
                    logger.warning(
                        "job %s of queue %r failed on delivery %d, retry in %.3g s: %r",
                        job.id,
                        self._queue.name,
                        job.deliveries,
                        delay,
                        error,
                        exc_info=error,
                    )
                else:
                    event = JobEvent("dead", job, duration, error)
        except LockLostError:
            event = JobEvent("lock_lost", job, duration, error)
        except TRANSIENT as exc:
            logger.warning(
                "job %s of queue %r: could not record its outcome (%r); it is due again "
                "when its lock expires",
                job.id,
                self._queue.name,
                exc,
            )
            return
        if event.kind == "lock_lost":
            logger.warning(
                "job %s of queue %r: lock lost, another consumer holds the job now",
                job.id,
                self._queue.name,
            )
        await self._emit(event)

    async def _retrying(self, running: _Running, call: Callable[[], Awaitable[T]]) -> T:
        """Run ``call``, retrying through Redis outages as long as the job's lock lasts."""
        attempt = 0
        while True:
            try:
                return await call()
            except TRANSIENT:
                if time.monotonic() >= running.lock_until:
                    raise
                await anyio.sleep(backoff(attempt, base=0.05, cap=1.0))
                attempt += 1

    async def _renew(self) -> None:
        """Extend the locks of running handlers' jobs, each once a third of ``lock_timeout``
        has passed since its lock was last set, until cancelled.

        One task for all the worker's jobs: it wakes every sixth of ``lock_timeout``, so a
        lock is renewed at the latest half-way through, and a renewal that failed because
        Redis was unreachable is tried again at the next wake.
        """
        lock_s = self._lock_ms / 1000
        while True:
            await anyio.sleep(lock_s / 6)
            now = time.monotonic()
            due = [
                r for r in self._running if not r.finished and r.lock_until - now <= lock_s * 2 / 3
            ]
            if due:
                async with anyio.create_task_group() as renewals:
                    for running in due:
                        renewals.start_soon(self._renew_one, running)

    async def _renew_one(self, running: _Running) -> None:
        asked = time.monotonic()
        try:
            await running.job.extend(self._lock_ms)
        except LockLostError:
            if not running.finished:
                running.lock_lost = True
                running.handler.cancel()
            return
        except TRANSIENT as exc:
            if not running.renewal_failed:
                logger.warning(
                    "job %s of queue %r: could not renew its lock, retrying: %r",
                    running.job.id,
                    self._queue.name,
                    exc,
                )
            running.renewal_failed = True
            return
        running.lock_until = asked + self._lock_ms / 1000
        running.renewal_failed = False

    async def _emit(self, event: JobEvent) -> None:
        self._counts[event.kind] += 1
        logger.debug("job %s of queue %r: %s", event.job.id, self._queue.name, event.kind)
        for hook in self._hooks:
            try:
                result = hook(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception("on_event raised for the %s of job %s", event.kind, event.job.id)

    def __repr__(self) -> str:
        return (
            f"Worker(queue={self._queue.name!r}, concurrency={self._concurrency}, "
            f"lock_timeout={self._lock_ms}, running={len(self._running)})"
        )
