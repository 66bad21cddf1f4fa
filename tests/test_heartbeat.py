"""Worker heartbeats: a running worker is listed by queue.workers(), a stopped one is not,
a silent one drops out when its entry expires; several event hooks."""

from __future__ import annotations

import asyncio
import os
import socket
import time

import pytest
from conftest import MakeQueue
from deployments import every_deployment
from helpers import PATIENCE, eventually
from test_worker import running

from aioredisjobqueue import Job, JobEvent, RedisJobQueue, Worker, WorkerInfo
from aioredisjobqueue._http import Route
from aioredisjobqueue._serve import health_routes

# the contract: every test here runs on one node, fakeredis, a Redis Cluster and Sentinel
backend = every_deployment


async def test_a_running_worker_is_listed_with_what_it_does_until_it_stops(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue()
    release = asyncio.Event()

    async def handle(job: Job) -> None:
        if job.payload == "slow":
            await release.wait()

    await queue.put_many(["a", "b", "slow"])
    started = time.time()
    worker = Worker(queue, handle, concurrency=4, heartbeat=0.2)
    seen: list[WorkerInfo] = []
    async with running(worker) as task:

        async def reported() -> bool:
            seen[:] = await queue.workers()
            return len(seen) == 1 and seen[0].counts.get("complete") == 2 and seen[0].running == 1

        await eventually(reported)
        info = seen[0]
        assert info.id == worker.id
        assert (info.host, info.pid) == (socket.gethostname(), os.getpid())
        assert info.queues == (queue.name,)
        assert info.concurrency == 4
        assert info.counts == {"start": 3, "complete": 2}
        assert not info.stopping
        assert started - 5 <= info.started_at <= time.time()
        assert info.beat_at < info.expires_at <= info.beat_at + 3 * 0.2 + 0.001
        assert worker.alive
        worker.stop()
        await eventually(lambda: _stopping(queue))
        release.set()
        await asyncio.wait_for(task, PATIENCE)
    # a clean stop removes the entry at once, and leaves no key behind
    assert await queue.workers() == []
    assert not worker.alive
    assert await queue.redis.exists(queue.keys.workers, queue.keys.worker(worker.id)) == 0


async def _stopping(queue: RedisJobQueue) -> bool:
    return any(w.stopping for w in await queue.workers())


async def test_every_worker_of_a_queue_is_listed_by_each_of_its_queue_objects(
    make_queue: MakeQueue,
) -> None:
    first, second, reader = make_queue(), make_queue(), make_queue()

    async def handle(job: Job) -> None:
        pass

    workers = [Worker(first, handle, heartbeat=0.05), Worker(second, handle, heartbeat=0.05)]
    async with running(workers[0]), running(workers[1]):
        await eventually(lambda: _count(reader, 2))
        assert {w.id for w in await reader.workers()} == {w.id for w in workers}
    assert await reader.workers() == []


async def _count(queue: RedisJobQueue, n: int) -> bool:
    return len(await queue.workers()) == n


@pytest.mark.real_redis
async def test_a_worker_that_stops_beating_drops_out_when_its_entry_expires(
    real_queue: RedisJobQueue,
) -> None:
    """As after SIGKILL: nobody removes the entry, its time to live does."""
    scripts = real_queue._scripts
    await scripts.beat("gone", 60_000, {"host": "h", "pid": "1"})
    await scripts.beat("silent", 300, {"host": "h", "pid": "2"})
    assert {w.id for w in await real_queue.workers()} == {"gone", "silent"}
    assert await scripts.unbeat("gone")
    assert [w.id for w in await real_queue.workers()] == ["silent"]
    await eventually(lambda: _count(real_queue, 0))
    # the hash expired by itself; the next beat of any worker prunes the zset
    assert not await real_queue.redis.exists(real_queue.keys.worker("silent"))
    await scripts.beat("next", 60_000, {})
    assert await real_queue.redis.zrange(real_queue.keys.workers, 0, -1) == [b"next"]
    assert 0 < await real_queue.redis.pttl(real_queue.keys.workers) <= 60_000


async def test_several_event_hooks_each_get_every_event(make_queue: MakeQueue) -> None:
    queue = make_queue()
    await queue.put("x")
    first: list[str] = []
    second: list[str] = []

    def broken(event: JobEvent) -> None:
        raise RuntimeError("hook failed")

    async def later(event: JobEvent) -> None:
        second.append(event.kind)

    async def handle(job: Job) -> None:
        pass

    worker = Worker(queue, handle, on_event=[lambda e: first.append(e.kind), broken, later])
    async with running(worker):
        await eventually(lambda: second == ["start", "complete"])
    assert first == ["start", "complete"]


async def test_livez_fails_while_the_event_loop_is_blocked_and_readyz_answers_with_redis(
    make_queue: MakeQueue,
) -> None:
    """A handler that blocks the loop longer than three heartbeats stops the beats: the
    worker is not alive, and /livez says so, until the loop turns again."""
    queue = make_queue()
    await queue.put("blocks")
    routes: dict[str, Route] = {}
    seen: list[tuple[bool, int, int]] = []

    async def handle(job: Job) -> None:
        ready = await routes["/readyz"]()
        time.sleep(0.5)  # noqa: ASYNC251  (the point: 0.5 s > 3 heartbeats of 0.1 s)
        livez = await routes["/livez"]()
        seen.append((worker.alive, livez.status, ready.status))

    worker = Worker(queue, handle, heartbeat=0.1)
    routes.update(health_routes(worker))
    async with running(worker):
        await eventually(lambda: seen)
        await eventually(lambda: worker.alive)  # the loop turns again
        assert (await routes["/livez"]()).status == 200
    assert seen == [(False, 503, 200)]
    after = await routes["/livez"]()
    assert after.status == 503 and b"stopped" in after.body
