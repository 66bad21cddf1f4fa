"""The Worker as a service uses it: several queues, a lifespan, and failures with a cause."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field

import pytest
from conftest import MakeQueue
from helpers import eventually
from test_worker import recorder, running

from aioredisjobqueue import DoNotRetry, Job, RetryAfter, Worker, worker_state
from aioredisjobqueue.worker import DEFAULT_MAX_DELIVERIES

# -- several queues --------------------------------------------------------------------


async def test_one_worker_serves_several_queues_fairly(make_queue: MakeQueue) -> None:
    big, small = make_queue("big-" + make_queue().name), make_queue("small-" + make_queue().name)
    await big.put_many(range(200))
    await small.put_many(range(20))
    order: list[str] = []

    async def handle(job: Job) -> None:
        order.append(job.queue.name)
        await asyncio.sleep(0)

    worker = Worker([big, small], handle, concurrency=2)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 220)
    # the small queue is not starved behind the big one: its jobs are taken in turns
    assert order[:40].count(small.name) >= 15, order[:40]
    assert order.count(small.name) == 20


async def test_queues_keyword_and_one_queue_alike(make_queue: MakeQueue) -> None:
    a, b = make_queue("a-" + make_queue().name), make_queue("b-" + make_queue().name)
    await a.put("from a")
    await b.put("from b")
    seen: list[str] = []

    async def handle(job: Job) -> None:
        seen.append(job.payload)

    worker = Worker(queues=[a, b], handler=handle)
    assert worker.queues == (a, b) and worker.queue is a
    async with running(worker):
        await eventually(lambda: len(seen) == 2)
    assert sorted(seen) == ["from a", "from b"]


def test_bad_queue_arguments_are_refused(make_queue: MakeQueue) -> None:
    async def handle(job: Job) -> None: ...

    queue = make_queue()
    with pytest.raises(ValueError, match="queues must not be empty"):
        Worker([], handle)
    with pytest.raises(ValueError, match="twice"):
        Worker([queue, queue], handle)
    with pytest.raises(TypeError, match="either as the first argument or as queues="):
        Worker(queue, handle, queues=[queue])
    with pytest.raises(TypeError, match="queue must be a RedisJobQueue, got 'q'"):
        Worker(["q"], handle)  # type: ignore[list-item]


async def test_a_queue_nothing_was_put_in_gets_a_warning_at_start(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    known, unknown = (
        make_queue("known-" + make_queue().name),
        make_queue("typo-" + make_queue().name),
    )
    await known.put(1)

    async def handle(job: Job) -> None: ...

    def warnings() -> list[str]:
        return [r.getMessage() for r in caplog.records if "never had a job" in r.getMessage()]

    worker = Worker([known, unknown], handle)
    with caplog.at_level(logging.WARNING, "aioredisjobqueue"):
        async with running(worker):
            await eventually(lambda: worker.counts.get("complete") == 1)
            await eventually(warnings, "the warning")
    assert len(warnings()) == 1 and repr(unknown.name) in warnings()[0]


# -- lifespan ----------------------------------------------------------------------------


@dataclass
class Resources:
    opened: int
    log: list[str] = field(default_factory=list)


async def test_lifespan_runs_once_around_every_job_and_handlers_reach_its_value(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue()
    await queue.put_many(range(20))
    log: list[str] = []
    seen: list[Resources] = []

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[Resources]:
        log.append("enter")
        yield Resources(opened=len(log))
        log.append("exit")

    async def handle(job: Job) -> None:
        log.append("job")
        await asyncio.sleep(0.001)
        seen.append(worker_state(Resources))

    worker = Worker(queue, handle, concurrency=4, lifespan=lifespan)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 20)
    assert log[0] == "enter" and log[-1] == "exit"
    assert log.count("enter") == log.count("exit") == 1 and log.count("job") == 20
    assert len(seen) == 20 and all(s is seen[0] for s in seen) and seen[0].opened == 1
    with pytest.raises(LookupError, match="given a lifespan"):
        worker_state(Resources)  # outside the worker


async def test_worker_state_checks_the_type_it_is_asked_for(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put("x")
    errors: list[BaseException] = []

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[str]:
        yield "not resources"

    async def handle(job: Job) -> None:
        try:
            worker_state(Resources)
        except TypeError as exc:
            errors.append(exc)

    worker = Worker(queue, handle, lifespan=lifespan)
    async with running(worker):
        await eventually(lambda: errors)
    assert "is a str, not a Resources" in str(errors[0])


async def test_a_lifespan_that_fails_to_open_ends_run_before_any_job(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue()
    await queue.put("x")

    @asynccontextmanager
    async def lifespan() -> AsyncIterator[None]:
        raise ConnectionRefusedError("no database")
        yield

    async def handle(job: Job) -> None:
        raise AssertionError("no job runs")

    with pytest.raises(ConnectionRefusedError, match="no database"):
        await Worker(queue, handle, lifespan=lifespan).run()
    assert (await queue.stats()).ready == 1


# -- failures ------------------------------------------------------------------------------


async def test_do_not_retry_dead_letters_at_once_and_logs_the_traceback(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue()
    await queue.put({"to": "nobody"})

    def check_address(to: str) -> None:
        raise ValueError(f"no such address: {to}")

    async def send(job: Job) -> None:
        try:
            check_address(job.payload["to"])
        except ValueError as exc:
            raise DoNotRetry("bad address") from exc

    events, hook = recorder()
    worker = Worker(queue, send, on_event=hook)
    with caplog.at_level(logging.INFO, "aioredisjobqueue"):
        async with running(worker):
            await eventually(lambda: worker.counts.get("dead") == 1)
    (letter,) = await queue.dead_letters()
    assert letter.deliveries == 1
    assert [e.kind for e in events] == ["start", "dead"]
    (record,) = [r for r in caplog.records if r.levelno == logging.ERROR]
    assert "dead-lettered" in record.getMessage() and letter.id in record.getMessage()
    assert "ValueError: no such address: nobody" in record.getMessage()
    text = caplog.text
    assert "Traceback" in text and "check_address" in text


async def test_retry_after_holds_the_job_back_that_long(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put("rate limited")

    async def handle(job: Job) -> None:
        raise RetryAfter(60)

    events, hook = recorder()
    worker = Worker(queue, handle, retry_delay=0, retry_max_delay=0, on_event=hook)
    async with running(worker):
        await eventually(lambda: worker.counts.get("retry") == 1)
    (waiting,) = await queue.peek()
    assert waiting.due_at > time.time() + 50  # not the backoff's 0 s
    (retry,) = [e for e in events if e.kind == "retry"]
    assert retry.retry_in == 60


async def test_retry_after_a_short_delay_then_success(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put("x")
    deliveries: list[int] = []

    async def handle(job: Job) -> None:
        deliveries.append(job.deliveries)
        if job.deliveries == 1:
            raise RetryAfter(0.05)

    worker = Worker(queue, handle, retry_delay=60, retry_max_delay=60)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 1)
    assert deliveries == [1, 2]


async def test_a_failing_job_is_retried_a_finite_default_number_of_times(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue()  # the queue has no limit of its own
    await queue.put("poison")
    calls: list[int] = []

    async def handle(job: Job) -> None:
        calls.append(job.deliveries)
        raise KeyError("always")

    worker = Worker(queue, handle, retry_delay=0, retry_max_delay=0)
    with caplog.at_level(logging.ERROR, "aioredisjobqueue"):
        async with running(worker):
            await eventually(lambda: worker.counts.get("dead") == 1)
    assert DEFAULT_MAX_DELIVERIES == 5
    assert calls == [1, 2, 3, 4, 5]
    (letter,) = await queue.dead_letters()
    assert letter.deliveries == DEFAULT_MAX_DELIVERIES
    assert "KeyError: 'always'" in caplog.text and "Traceback" in caplog.text


async def test_max_deliveries_overrides_the_default(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put("poison")

    async def handle(job: Job) -> None:
        raise RuntimeError("no")

    worker = Worker(queue, handle, retry_delay=0, retry_max_delay=0, max_deliveries=2)
    async with running(worker):
        await eventually(lambda: worker.counts.get("dead") == 1)
    assert [d.deliveries for d in await queue.dead_letters()] == [2]


def test_retry_after_refuses_a_bad_delay() -> None:
    with pytest.raises(ValueError, match="delay must be >= 0 seconds, got -1"):
        RetryAfter(-1)
    with pytest.raises(TypeError, match="delay must be a number of seconds, got '5'"):
        RetryAfter("5")  # type: ignore[arg-type]
