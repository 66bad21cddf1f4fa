"""The Worker: outcomes, lock renewal, graceful and immediate stops, events, arguments."""

from __future__ import annotations

import asyncio
import functools
import logging
import random
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from typing import Any

import pytest
from conftest import MakeQueue
from deployments import every_deployment
from helpers import PATIENCE, eventually
from redis.exceptions import ResponseError

import aioredisjobqueue._settle
from aioredisjobqueue import Job, JobEvent, QueueStats, RedisJobQueue, Worker
from aioredisjobqueue._backoff import backoff

# the contract: every test here runs on one node, fakeredis, a Redis Cluster and Sentinel
backend = every_deployment

EMPTY = QueueStats(ready=0, locked=0, delayed=0, dead=0)


@asynccontextmanager
async def running(
    worker: Worker, *, grace: float | None = None
) -> AsyncIterator[asyncio.Task[None]]:
    """Run ``worker`` in a task; stop it on the way out and check that it ended."""
    task = asyncio.create_task(worker.run())
    try:
        yield task
    finally:
        if not task.done():
            worker.stop(grace)
        await asyncio.wait_for(task, PATIENCE)


def recorder() -> tuple[list[JobEvent], Callable[[JobEvent], None]]:
    events: list[JobEvent] = []
    return events, events.append


async def test_returning_handler_completes_every_job_once(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put_many(range(50))
    seen: list[int] = []

    async def handle(job: Job) -> None:
        await asyncio.sleep(0.001)
        seen.append(job.payload)

    events, hook = recorder()
    worker = Worker(queue, handle, concurrency=5, on_event=hook)
    async with running(worker):
        await eventually(lambda: len(seen) == 50)
        await eventually(lambda: worker.counts.get("complete") == 50)
    assert sorted(seen) == list(range(50))
    assert await queue.stats() == EMPTY
    assert [e.kind for e in events].count("start") == 50
    assert all(e.duration is not None and e.duration >= 0 for e in events if e.kind == "complete")


async def test_at_most_concurrency_handlers_run_at_once(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put_many(range(30))
    now = peak = done = 0

    async def handle(job: Job) -> None:
        nonlocal now, peak, done
        now += 1
        peak = max(peak, now)
        await asyncio.sleep(0.02)
        now -= 1
        done += 1

    worker = Worker(queue, handle, concurrency=4)
    async with running(worker):
        await eventually(lambda: done == 30)
    assert peak == 4


async def test_handler_running_5x_its_lock_timeout_is_executed_exactly_once(
    make_queue: MakeQueue,
) -> None:
    queue, rival = make_queue(), make_queue()
    await queue.put("long job")
    runs: list[str] = []

    async def handle(job: Job) -> None:
        runs.append(job.payload)
        await asyncio.sleep(3.0)  # 5 x lock_timeout

    # 600 ms locks: renewals (every 100 ms) keep up on a loaded machine and on a cluster
    worker = Worker(queue, handle, lock_timeout=600)
    rival_runs: list[Job] = []
    async with running(worker):
        await eventually(lambda: runs)
        # a second consumer keeps trying to take the job while the handler runs
        for _ in range(120):
            job = await rival.get(lock_timeout=200)
            if job is not None:
                rival_runs.append(job)
            await asyncio.sleep(0.025)
        await eventually(lambda: worker.counts.get("complete") == 1)
    assert runs == ["long job"]
    assert rival_runs == []
    assert await queue.stats() == EMPTY


async def test_stopped_worker_releases_its_jobs_for_another_worker_at_once(
    make_queue: MakeQueue,
) -> None:
    queue, other_queue = make_queue(), make_queue()
    await queue.put_many(["a", "b"])
    started: list[str] = []
    cancelled: list[str] = []

    async def stuck(job: Job) -> None:
        started.append(job.payload)
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.append(job.payload)
            raise

    events, hook = recorder()
    first = Worker(queue, stuck, lock_timeout=60_000, grace=0.2, on_event=hook)
    task = asyncio.create_task(first.run())
    await eventually(lambda: len(started) == 2)
    first.stop()
    await asyncio.wait_for(task, PATIENCE)
    assert sorted(cancelled) == ["a", "b"]
    assert sorted(e.job.payload for e in events if e.kind == "stopped") == ["a", "b"]
    assert (await other_queue.stats()).ready == 2  # not locked for the next 60 s

    deliveries: dict[str, int] = {}

    async def handle(job: Job) -> None:
        deliveries[job.payload] = job.deliveries

    second = Worker(other_queue, handle)
    async with running(second):
        await eventually(lambda: len(deliveries) == 2)
    # the stop did not count as a failed delivery
    assert deliveries == {"a": 1, "b": 1}
    assert await other_queue.stats() == EMPTY


async def test_graceful_stop_lets_running_handlers_finish(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put_many(["a", "b", "c"])
    started: list[str] = []
    finished: list[str] = []

    async def handle(job: Job) -> None:
        started.append(job.payload)
        await asyncio.sleep(0.3)
        finished.append(job.payload)

    worker = Worker(queue, handle, concurrency=2, grace=10)
    task = asyncio.create_task(worker.run())
    await eventually(lambda: len(started) == 2)
    worker.stop()
    await asyncio.wait_for(task, PATIENCE)
    # the two running ones finished and were completed; the third was never taken
    assert sorted(finished) == sorted(started)
    assert len(finished) == 2
    assert await queue.stats() == QueueStats(ready=1, locked=0, delayed=0, dead=0)
    assert worker.counts == {"start": 2, "complete": 2}


async def test_second_stop_ends_at_once_and_leaves_jobs_locked(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put("a")
    started = asyncio.Event()

    async def stuck(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    worker = Worker(queue, stuck, lock_timeout=60_000, grace=3600)
    task = asyncio.create_task(worker.run())
    await asyncio.wait_for(started.wait(), PATIENCE)
    worker.stop()
    await asyncio.sleep(0.05)
    assert not task.done()  # waiting out the grace period
    worker.stop()
    await asyncio.wait_for(task, PATIENCE)
    # not released: the job comes back when its lock expires
    assert await queue.stats() == QueueStats(ready=0, locked=1, delayed=0, dead=0)


async def test_stop_before_run_returns_at_once_without_taking_jobs(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue()
    await queue.put("a")

    async def handle(job: Job) -> None:
        raise AssertionError("no job should run")

    worker = Worker(queue, handle)
    worker.stop()
    await asyncio.wait_for(worker.run(), PATIENCE)
    assert (await queue.stats()).ready == 1
    with pytest.raises(RuntimeError, match="runs once"):
        await worker.run()


async def test_always_raising_handler_ends_in_dead_letters(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=3)
    await queue.put({"poison": True})
    attempts: list[int] = []

    async def handle(job: Job) -> None:
        attempts.append(job.deliveries)
        raise ValueError("cannot handle this")

    events, hook = recorder()
    worker = Worker(queue, handle, retry_delay=0.01, retry_max_delay=0.02, on_event=hook)
    async with running(worker):
        await eventually(lambda: worker.counts.get("dead") == 1)
    assert attempts == [1, 2, 3]
    outcomes = [e for e in events if e.kind != "start"]
    assert [e.kind for e in outcomes] == ["retry", "retry", "dead"]
    assert all(isinstance(e.error, ValueError) for e in outcomes)
    assert all(e.retry_in is not None and 0 <= e.retry_in <= 0.02 for e in outcomes[:2])
    (dead,) = await queue.dead_letters()
    assert dead.payload == {"poison": True}
    assert dead.deliveries == 3
    assert await queue.stats() == QueueStats(ready=0, locked=0, delayed=0, dead=1)


async def test_failed_job_waits_its_retry_delay(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    queue = make_queue()
    await queue.put("flaky")
    attempts: list[int] = []

    async def handle(job: Job) -> None:
        attempts.append(job.deliveries)
        if job.deliveries == 1:
            raise RuntimeError("first time fails")

    # the jitter drawn at the middle of [0, cap): the first retry waits 30 s of the 60
    monkeypatch.setattr(
        aioredisjobqueue._settle, "backoff", functools.partial(backoff, rand=lambda: 0.5)
    )
    events, hook = recorder()
    worker = Worker(queue, handle, retry_delay=60, retry_max_delay=60, on_event=hook)
    async with running(worker):
        await eventually(lambda: worker.counts.get("retry") == 1)
        (retry,) = [e for e in events if e.kind == "retry"]
        assert retry.retry_in == 30.0
        assert await queue.stats() == QueueStats(ready=0, locked=0, delayed=1, dead=0)
        (waiting,) = await queue.peek()
        seconds, micros = await queue.redis.time()
        due_in = waiting.due_at - (seconds + micros / 1e6)
        assert 20 < due_in <= 30, due_in
    assert attempts == [1]


async def test_timeout_cancels_the_handler_and_retries_the_job(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put("slow once")
    cancelled = 0

    async def handle(job: Job) -> None:
        nonlocal cancelled
        if job.deliveries == 1:
            try:
                await asyncio.sleep(3600)
            except asyncio.CancelledError:
                cancelled += 1
                raise

    events, hook = recorder()
    worker = Worker(queue, handle, timeout=0.1, retry_delay=0.0, on_event=hook)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 1)
    assert cancelled == 1
    retry = next(e for e in events if e.kind == "retry")
    assert isinstance(retry.error, TimeoutError)
    assert await queue.stats() == EMPTY


async def test_lost_lock_cancels_the_handler(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue()
    await queue.put("taken away")
    started = asyncio.Event()
    cancelled = asyncio.Event()

    async def handle(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            cancelled.set()
            raise

    events, hook = recorder()
    worker = Worker(queue, handle, lock_timeout=150, on_event=hook)
    with caplog.at_level(logging.WARNING, logger="aioredisjobqueue"):
        async with running(worker):
            await asyncio.wait_for(started.wait(), PATIENCE)
            await queue.purge()  # the job is gone: the next renewal finds the lock lost
            await asyncio.wait_for(cancelled.wait(), PATIENCE)
            await eventually(lambda: worker.counts.get("lock_lost") == 1)
    assert [e.kind for e in events] == ["start", "lock_lost"]
    assert "lock lost" in caplog.text


async def test_event_hook_may_be_async_and_its_errors_do_not_stop_the_worker(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue()
    await queue.put_many(["a", "b"])
    kinds: list[str] = []

    async def hook(event: JobEvent) -> None:
        kinds.append(event.kind)
        raise RuntimeError("hook failure")

    async def handle(job: Job) -> None:
        pass

    worker = Worker(queue, handle, on_event=hook)
    with caplog.at_level(logging.ERROR, logger="aioredisjobqueue"):
        async with running(worker):
            await eventually(lambda: kinds.count("complete") == 2)
    assert await queue.stats() == EMPTY
    assert "on_event raised" in caplog.text


async def test_worker_takes_jobs_put_while_it_waits(make_queue: MakeQueue) -> None:
    queue = make_queue()
    done: list[int] = []

    async def handle(job: Job) -> None:
        done.append(job.payload)

    worker = Worker(queue, handle)
    async with running(worker):
        await asyncio.sleep(0.2)
        for n in range(5):
            await queue.put(n)
        await eventually(lambda: len(done) == 5)


async def _noop(job: Job) -> None:
    pass


def _sync(job: Job) -> None:
    pass


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"concurrency": 0}, ValueError, "concurrency must be >= 1, got 0"),
        ({"concurrency": 2.5}, TypeError, "concurrency must be an int, got 2.5"),
        ({"lock_timeout": -1}, ValueError, "lock_timeout must be a positive number"),
        ({"grace": -1}, ValueError, "grace must be >= 0 seconds, got -1"),
        ({"retry_delay": "1"}, TypeError, "retry_delay must be a number, got '1'"),
        ({"retry_delay": 5, "retry_max_delay": 1}, ValueError, "retry_max_delay must be >= "),
        ({"timeout": 0}, ValueError, "timeout must be a positive number of seconds, got 0"),
        ({"handler": _sync}, TypeError, "handler must be an async function"),
        ({"handler": 42}, TypeError, "handler must be an async function"),
        ({"on_event": "log"}, TypeError, "on_event must be callable or a list of callables"),
        ({"on_event": [print, 5]}, TypeError, "or a list of callables, got .<built-in function"),
        ({"heartbeat": 0}, ValueError, "heartbeat must be a positive number of seconds, got 0"),
        ({"prefetch": -1}, ValueError, "prefetch must be an int >= 0, got -1"),
        ({"prefetch": 1.5}, ValueError, "prefetch must be an int >= 0, got 1.5"),
    ],
)
async def test_bad_worker_arguments_are_refused_by_name(
    queue: RedisJobQueue, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    kwargs = dict(kwargs)
    handler = kwargs.pop("handler", _noop)
    with pytest.raises(error, match=message.replace("(", r"\(")):
        Worker(queue, handler, **kwargs)


async def test_bad_stop_grace_is_refused(queue: RedisJobQueue) -> None:
    worker = Worker(queue, _noop)
    with pytest.raises(ValueError, match="grace must be >= 0 seconds, got -2"):
        worker.stop(grace=-2)
    assert not worker.stopping


async def test_stops_at_any_moment_leave_no_job_locked(make_queue: MakeQueue) -> None:
    """Whatever the worker is doing when stop() comes (a get in flight, a wait, handlers
    running), once run() returns every job is done or waiting, none locked."""
    queue = make_queue()
    await queue.put_many(range(400))
    done: list[int] = []

    async def handle(job: Job) -> None:
        done.append(job.payload)
        if job.payload % 3 == 0:
            await asyncio.sleep(0)

    for attempt in range(40):
        worker = Worker(queue, handle, concurrency=3, lock_timeout=60_000, grace=5)
        task = asyncio.create_task(worker.run())
        await asyncio.sleep(random.uniform(0, 0.01))
        worker.stop()
        await asyncio.wait_for(task, PATIENCE)
        stats = await queue.stats()
        assert stats.locked == 0, (attempt, stats)
        assert stats.ready == 400 - len(done), (attempt, stats)
    assert len(set(done)) == len(done)


async def test_handler_raising_cancelled_error_itself_is_a_failure(make_queue: MakeQueue) -> None:
    """A CancelledError the handler raises (a cancelled future it awaited, say), with
    nobody cancelling the worker, is retried like any error: the worker goes on."""
    queue = make_queue()
    await queue.put_many(["odd", "a", "b"])
    done: list[str] = []

    async def handle(job: Job) -> None:
        if job.payload == "odd" and job.deliveries == 1:
            future: asyncio.Future[None] = asyncio.get_running_loop().create_future()
            future.cancel()
            await future  # raises CancelledError in this task, which nobody cancelled
        done.append(job.payload)

    events, hook = recorder()
    worker = Worker(queue, handle, concurrency=1, retry_delay=0.0, on_event=hook)
    async with running(worker):
        await eventually(lambda: sorted(done) == ["a", "b", "odd"])
    retry = next(e for e in events if e.kind == "retry")
    assert isinstance(retry.error, asyncio.CancelledError)
    assert await queue.stats() == EMPTY


async def test_redis_error_reply_ends_the_run_and_is_raised_as_itself(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue()
    await queue.redis.set(queue.keys.waiting, "not a sorted set")  # every get now fails

    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await asyncio.wait_for(Worker(queue, _noop).run(), PATIENCE)


async def test_redis_error_reply_in_a_lock_renewal_is_raised_as_itself(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue()
    await queue.put("held")
    started = asyncio.Event()

    async def handle(job: Job) -> None:
        started.set()
        await asyncio.sleep(3600)

    task = asyncio.create_task(Worker(queue, handle, lock_timeout=150).run())
    await asyncio.wait_for(started.wait(), PATIENCE)
    await queue.redis.delete(queue.keys.state)
    await queue.redis.set(queue.keys.state, "not a hash")  # the next renewal fails
    with pytest.raises(ResponseError, match="WRONGTYPE"):
        await asyncio.wait_for(task, PATIENCE)
