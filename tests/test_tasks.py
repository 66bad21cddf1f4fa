"""Typed tasks: declared by name, queued with checked arguments, run by one Worker."""

from __future__ import annotations

import asyncio
import functools
import logging

import pytest
from conftest import MakeQueue
from helpers import eventually
from test_worker import recorder, running

import aioredisjobqueue._settle
from aioredisjobqueue import DuplicateJobError, Tasks, Worker, current_job, job_id
from aioredisjobqueue._backoff import backoff


async def test_put_queues_plain_json_naming_the_task_and_its_arguments(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue()
    tasks = Tasks()

    @tasks.task
    async def send_email(to: str, subject: str, urgent: bool = False) -> str:
        return f"sent {subject!r} to {to}"

    job = await send_email.put(queue, "ada@example.com", subject="hi")
    args = {"to": "ada@example.com", "subject": "hi", "urgent": False}
    expected = {"task": "send_email", "args": args}
    assert job == job_id(expected)  # content identity: any language can make this job
    (waiting,) = await queue.peek()
    assert waiting.payload == expected
    # the same call, however its arguments are spelled, is the same job
    with pytest.raises(DuplicateJobError):
        await send_email.put(queue, to="ada@example.com", subject="hi", urgent=False)
    assert await send_email("bob@example.com", "x") == "sent 'x' to bob@example.com"


async def test_bad_arguments_are_refused_before_anything_is_queued(make_queue: MakeQueue) -> None:
    queue = make_queue()
    tasks = Tasks()

    @tasks.task
    async def resize(path: str, width: int) -> None: ...

    with pytest.raises(TypeError, match=r"resize\(\): missing a required argument: 'width'"):
        await resize.put(queue, path="a.png")  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"resize\(\): got an unexpected keyword argument 'height'"):
        await resize.put(queue, path="a.png", width=1, height=2)  # type: ignore[call-arg]
    with pytest.raises(TypeError, match=r"argument 'path' = \{'a'\} cannot be sent as JSON"):
        await resize.put(queue, path={"a"}, width=1)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="queue must be a RedisJobQueue, got 'q'"):
        await resize.put("q", path="a.png", width=1)  # type: ignore[arg-type]
    assert (await queue.stats()).total == 0


def test_what_cannot_be_a_task_is_refused() -> None:
    tasks = Tasks()

    def not_async(x: int) -> None: ...

    async def star(*args: int) -> None: ...

    async def needs(x: int) -> None: ...

    with pytest.raises(TypeError, match="a task must be an async function"):
        tasks.task(not_async)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="parameter 'args' is variadic positional"):
        tasks.task(star)
    tasks.task(needs)
    with pytest.raises(ValueError, match="a task named 'needs' is already registered"):
        tasks.task(needs)
    with pytest.raises(
        TypeError, match="periodic task 'p' must take no argument without a default"
    ):
        tasks.task(name="p", every=1)(needs)
    with pytest.raises(ValueError, match="max_deliveries must be >= 1, got 0"):
        tasks.task(max_deliveries=0)


async def test_one_worker_runs_every_task_with_its_arguments(make_queue: MakeQueue) -> None:
    queue = make_queue()
    tasks = Tasks()
    sent: list[tuple[str, str]] = []
    resized: list[int] = []

    @tasks.task
    async def send_email(to: str, subject: str) -> None:
        sent.append((to, subject))

    @tasks.task(name="thumbnail")
    async def resize(width: int) -> int:
        resized.append(width)
        return width * 2

    await send_email.put(queue, to="ada@example.com", subject="hi")
    await resize.put(queue, width=64)
    await resize.with_options(delay=0.05).put(queue, width=32)
    worker = Worker(queue, tasks)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 3)
    assert sent == [("ada@example.com", "hi")]
    assert sorted(resized) == [32, 64]
    assert tasks.names == ["send_email", "thumbnail"]


async def test_an_unknown_task_is_dead_lettered_with_a_clear_error(
    make_queue: MakeQueue, caplog: pytest.LogCaptureFixture
) -> None:
    queue = make_queue()
    tasks = Tasks()
    ran: list[str] = []

    @tasks.task
    async def known() -> None:
        ran.append("known")

    await queue.put({"task": "renamed_long_ago", "args": {}})
    await queue.put({"task": "known", "args": {"surprise": 1}})
    await queue.put("not a task at all")
    await known.put(queue)
    worker = Worker(queue, tasks)
    with caplog.at_level(logging.ERROR, "aioredisjobqueue"):
        async with running(worker):
            await eventually(lambda: worker.counts.get("dead") == 3)
            await eventually(lambda: worker.counts.get("complete") == 1)
    assert ran == ["known"]
    assert all(d.deliveries == 1 for d in await queue.dead_letters())  # at once, no retries
    assert "unknown task 'renamed_long_ago': this worker's tasks are ['known']" in caplog.text
    assert "task 'known' cannot take these arguments" in caplog.text
    assert 'not a task\'s payload (no "task" name)' in caplog.text


async def test_per_task_max_deliveries_and_timeout(make_queue: MakeQueue) -> None:
    queue = make_queue()
    tasks = Tasks()

    @tasks.task(max_deliveries=2)
    async def flaky() -> None:
        raise ConnectionError("down")

    @tasks.task(timeout=0.05, max_deliveries=1)
    async def slow() -> None:
        await asyncio.sleep(60)

    await flaky.put(queue)
    await slow.put(queue)
    events, hook = recorder()
    worker = Worker(queue, tasks, retry_delay=0, retry_max_delay=0, on_event=hook)
    async with running(worker):
        await eventually(lambda: worker.counts.get("dead") == 2)
    deliveries = {d.payload["task"]: d.deliveries for d in await queue.dead_letters()}
    assert deliveries == {"flaky": 2, "slow": 1}  # not the worker's default of 5
    (timed_out,) = [e for e in events if e.kind == "dead" and e.job.payload["task"] == "slow"]
    assert isinstance(timed_out.error, TimeoutError)


async def test_per_task_retry_delay(make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch) -> None:
    queue = make_queue()
    tasks = Tasks()

    @tasks.task(retry_delay=40, retry_max_delay=40)
    async def later() -> None:
        raise ConnectionError("down")

    monkeypatch.setattr(
        aioredisjobqueue._settle, "backoff", functools.partial(backoff, rand=lambda: 0.5)
    )
    await later.put(queue)
    events, hook = recorder()
    worker = Worker(queue, tasks, retry_delay=0, retry_max_delay=0, on_event=hook)
    async with running(worker):
        await eventually(lambda: worker.counts.get("retry") == 1)
    (retry,) = [e for e in events if e.kind == "retry"]
    assert retry.retry_in == 20.0  # the task's 40 s at the middle draw, not the worker's 0


async def test_a_tasks_return_value_is_its_result(make_queue: MakeQueue) -> None:
    queue = make_queue()
    tasks = Tasks()

    @tasks.task(result_ttl=60)
    async def add(a: int, b: int) -> int:
        return a + b

    @tasks.task
    async def unjsonable() -> object:
        return {1, 2}

    job = await add.put(queue, a=2, b=3)
    bad = await unjsonable.put(queue)
    keyed = await add.with_options(key="request-7").put(queue, a=2, b=3)
    assert keyed == job_id(None, key="request-7") and keyed != job
    worker = Worker(queue, tasks, retry_delay=0, retry_max_delay=0)
    async with running(worker):
        assert await queue.result(job, timeout=30) == 5  # awaited while the worker runs
        assert await queue.result(keyed, timeout=30) == 5
        await eventually(lambda: worker.counts.get("dead") == 1)
    (letter,) = await queue.dead_letters()
    assert letter.id == bad and "JSON" in (letter.error or "")


async def test_a_task_reaches_its_job_with_current_job(make_queue: MakeQueue) -> None:
    queue = make_queue()
    tasks = Tasks()
    seen: list[tuple[str, int]] = []

    @tasks.task(max_deliveries=3)
    async def flaky(n: int) -> None:
        job = current_job()
        seen.append((job.id, job.deliveries))
        if job.deliveries < 2:
            raise ConnectionError("once")

    job = await flaky.put(queue, n=1)
    worker = Worker(queue, tasks, retry_delay=0, retry_max_delay=0)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 1)
    assert seen == [(job, 1), (job, 2)]
    with pytest.raises(LookupError, match="current_job"):
        current_job()
