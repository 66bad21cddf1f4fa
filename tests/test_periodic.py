"""Periodic jobs: each tick runs exactly once across replicas; late replicas do not replay."""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Callable
from contextlib import AsyncExitStack
from datetime import UTC, datetime

import anyio
import pytest
from conftest import MakeQueue
from helpers import eventually
from test_worker import running

from aioredisjobqueue import Job, Periodic, RedisJobQueue, Tasks, Worker
from aioredisjobqueue._periodic import run_schedules, tick_name
from aioredisjobqueue.testing import QueueFactory

pytestmark = pytest.mark.real_redis


@pytest.fixture
def real_queue_factory(real_jobqueue_factory: QueueFactory, queue_name: str) -> MakeQueue:
    """Queue objects on the real server, each with a pool of its own, all on one queue."""
    return lambda **queue_kwargs: real_jobqueue_factory(queue_name, **queue_kwargs)


def tick_of(job: Job) -> float:
    return datetime.fromisoformat(job.payload["tick"]).timestamp()


async def test_each_tick_runs_exactly_once_with_three_workers(
    real_queue_factory: MakeQueue,
) -> None:
    queues = [real_queue_factory() for _ in range(3)]  # three processes' worth of pools
    handled: list[float] = []

    async def handle(job: Job) -> None:
        assert job.payload["periodic"] == "heartbeat" and job.payload["payload"] == {"n": 1}
        handled.append(tick_of(job))

    workers = [
        Worker(q, handle, periodic=[Periodic("heartbeat", {"n": 1}, every=1)]) for q in queues
    ]
    async with AsyncExitStack() as stack:
        for worker in workers:
            await stack.enter_async_context(running(worker))
        await eventually(lambda: len(set(handled)) >= 4, "four ticks")
        for worker in workers:
            worker.stop()

    # ticks queued while stopping are left in the queue: run them too, once each
    async def empty() -> bool:
        return (await queues[0].stats()).total == 0

    rest = Worker(queues[0], handle)
    async with running(rest):
        await eventually(empty, "an empty queue")
    counts = Counter(handled)
    assert all(n == 1 for n in counts.values()), counts
    ticks = sorted(counts)
    assert ticks == [ticks[0] + i for i in range(len(ticks))], ticks  # one per second, none lost


async def test_replicas_whose_clocks_lag_queue_each_tick_once(
    real_queue_factory: MakeQueue,
) -> None:
    """Replicas whose clocks are 0, 0.4 and 0.8 s behind: the late ones come after the tick's
    job ran and was completed, and must not queue it again."""
    queues = [real_queue_factory() for _ in range(3)]
    schedule = Periodic("lagging", every=1)
    handled: list[float] = []

    async def handle(job: Job) -> None:
        handled.append(tick_of(job))

    def clock(lag: float) -> Callable[[], float]:
        return lambda: time.time() - lag

    async with running(Worker(queues[0], handle)), anyio.create_task_group() as replicas:
        for n, queue in enumerate(queues):
            link = queue._link(30_000, 0.01, 1.0)
            replicas.start_soon(run_schedules, [schedule], lambda _, k=link: k, clock(0.4 * n))
        await eventually(lambda: len(set(handled)) >= 3, "three ticks")
        replicas.cancel_scope.cancel()
    counts = Counter(handled)
    assert all(n == 1 for n in counts.values()), counts


async def test_a_tick_already_queued_or_run_is_not_queued_again(real_queue: RedisJobQueue) -> None:
    link = real_queue._link(30_000, 0.01, 1.0)
    tick = datetime(2026, 11, 30, 4, 5, tzinfo=UTC)
    payload = {"periodic": "p", "tick": tick_name(tick)}
    assert await link.put_tick("p", tick, payload)
    assert not await link.put_tick("p", tick, payload)  # a second replica, same tick
    job = await real_queue.get(lock_timeout=1000)
    assert job is not None
    await job.complete()
    assert not await link.put_tick("p", tick, payload)  # run already: a late replica
    earlier = datetime(2026, 11, 30, 4, 4, tzinfo=UTC)
    assert not await link.put_tick("p", earlier, {"periodic": "p", "tick": tick_name(earlier)})
    assert await link.last_tick("p") == tick.timestamp()
    assert (await real_queue.stats()).total == 0


@pytest.mark.parametrize("shards", [1, 3])
@pytest.mark.parametrize("catch_up", [False, True])
async def test_a_late_worker_replays_missed_ticks_only_when_asked(
    real_queue_factory: MakeQueue, catch_up: bool, shards: int
) -> None:
    handled: list[float] = []

    async def handle(job: Job) -> None:
        handled.append(tick_of(job))

    queue = real_queue_factory(shards=shards)
    first = Worker(queue, handle, periodic=[Periodic("p", every=1)])
    async with running(first, grace=0):
        await eventually(lambda: len(handled) >= 1, "a first tick")
    # the last tick queued (it may have been queued as the worker stopped, and not run)
    last = await queue._link(30_000, 0.01, 1.0).last_tick("p")
    assert last is not None and last >= max(handled)
    # no worker runs for two ticks
    await eventually(lambda: time.time() > last + 2.2, "two ticks missed", interval=0.05)
    schedule = Periodic("p", every=1, catch_up=catch_up)
    late = Worker(real_queue_factory(shards=shards), handle, periodic=[schedule])
    async with running(late):
        await eventually(lambda: any(t > last + 2 for t in handled), "a new tick")
    new = sorted({t for t in handled if t > last})
    if catch_up:
        assert new[:2] == [last + 1, last + 2], (last, new)
    else:
        assert min(new) > last + 2, (last, new)


async def test_periodic_task_of_a_tasks_registry(real_queue: RedisJobQueue) -> None:
    tasks = Tasks()
    runs: list[str] = []

    @tasks.task(every=0.5)
    async def cleanup(older_than: int = 30) -> None:
        runs.append(f"cleanup {older_than}")

    assert [p.name for p in tasks.periodic] == ["cleanup"]
    worker = Worker(real_queue, tasks)
    async with running(worker):
        await eventually(lambda: len(runs) >= 2, "two ticks")
    assert set(runs) == {"cleanup 30"}


def test_bad_schedules_are_refused(real_queue: RedisJobQueue) -> None:
    async def handle(job: Job) -> None: ...

    with pytest.raises(ValueError, match="give either every= or cron="):
        Periodic("p")
    with pytest.raises(ValueError, match="bad cron expression 'every minute'"):
        Periodic("p", cron="every minute")
    with pytest.raises(ValueError, match="every must be a positive number of seconds, got 0"):
        Periodic("p", every=0)
    with pytest.raises(ValueError, match=r"every must be at least 0\.001 seconds, got 0\.0001"):
        Periodic("p", every=0.0001)
    with pytest.raises(TypeError, match="not JSON-serializable"):
        Periodic("p", {1, 2}, every=1)
    with pytest.raises(ValueError, match="queue 'other' is none of the worker's queues"):
        Worker(real_queue, handle, periodic=[Periodic("p", every=1, queue="other")])
    with pytest.raises(ValueError, match="two periodic schedules are named 'p'"):
        Worker(real_queue, handle, periodic=[Periodic("p", every=1), Periodic("p", every=2)])


def test_cron_ticks_follow_the_expression_in_utc() -> None:
    schedule = Periodic("report", cron="*/15 * * * *")
    ticks = schedule.ticks_after(datetime(2026, 11, 30, 4, 7, 30, tzinfo=UTC))
    assert [tick_name(next(ticks)) for _ in range(3)] == [
        "2026-11-30T04:15:00.000Z", "2026-11-30T04:30:00.000Z", "2026-11-30T04:45:00.000Z",
    ]  # fmt: skip
