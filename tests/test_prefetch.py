"""The Worker's complete-and-take and its prefetch, on a real redis-server.

A Worker sends the completions of its finished jobs with the take of its next ones (one
round trip), and holds a few jobs beyond its free slots. Prefetched jobs are locked and
renewed like running ones, given back at once when the worker stops or is cancelled, and
come back after their locks when its process dies; none is lost or run twice, with
several queue objects and processes on one queue, and through dropped connections.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import time
from collections import Counter
from pathlib import Path

import pytest
from conftest import MakeQueue
from faultproxy import FaultProxy
from helpers import PATIENCE, eventually, sigkill

from aioredisjobqueue import Job, QueueStats, RedisJobQueue, Worker
from aioredisjobqueue._scripts import Completion
from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

EMPTY = QueueStats(ready=0, locked=0, delayed=0, dead=0)


async def _stop(worker: Worker, task: asyncio.Task[None]) -> None:
    if not task.done():
        worker.stop(0)
    await asyncio.wait_for(task, PATIENCE)


async def test_complete_and_take_with_a_lost_lock_completes_nothing_and_still_takes(
    make_real_queue: MakeQueue,
) -> None:
    queue = make_real_queue()
    await queue.put_many(["held", "a", "b"])
    (held,) = await queue.get_many(1, lock_timeout=60_000)
    link = queue._link(60_000, 0.01, 1.0)
    told: list[bool | BaseException] = []
    # a completion under a token that does not hold the job (as after a lost lock)
    link.complete_soon(Completion(held.id, "not-the-token"), time.monotonic() + 60, told.append)
    with link:
        taken = await link.try_take(5)
    assert told == [False]
    assert taken is not None
    assert sorted(job.payload for job in taken) == sorted({"held", "a", "b"} - {held.payload})
    # the job its real token holds is still there, still locked, and completes
    assert await queue.stats() == QueueStats(ready=0, locked=3, delayed=0, dead=0)
    await held.complete()
    # and with the right token, one round trip completes and takes
    (job,) = taken[:1]
    link.complete_soon(Completion(job.id, job.token), time.monotonic() + 60, told.append)
    with link:
        assert await link.try_take(5) == []
    assert told == [False, True]
    assert (await queue.stats()).locked == 1


async def test_rounds_cancelled_in_flight_give_their_jobs_back_at_once(
    make_real_queue: MakeQueue,
) -> None:
    queue = make_real_queue()
    await queue.put_many(range(100))
    link = queue._link(600_000, 0.01, 1.0)
    first = await queue.get(lock_timeout=1000)  # the scripts are loaded from here on
    assert first is not None
    cancelled = 0
    with link:
        for _ in range(100):
            link.complete_soon(
                Completion(first.id, first.token), time.monotonic() + 60, lambda _: None
            )
            task = asyncio.create_task(link.try_take(3))
            await asyncio.sleep(0)  # both script calls are written: cancel before the replies
            cancelled += task.cancel()
            try:
                for job in await task or []:
                    await job.release()
            except asyncio.CancelledError:
                pass

    async def none_locked() -> bool:
        return (await queue.stats()).locked == 0

    await eventually(none_locked, "the jobs of cancelled rounds to be given back")
    assert cancelled > 50
    assert await queue.stats() == QueueStats(ready=99, locked=0, delayed=0, dead=0)


async def test_prefetched_jobs_of_a_stopped_worker_are_taken_by_another_at_once(
    make_real_queue: MakeQueue,
) -> None:
    queue, other = make_real_queue(), make_real_queue()
    await queue.put_many(range(6))
    started: list[int] = []

    async def stuck(job: Job) -> None:
        started.append(job.payload)
        await asyncio.sleep(3600)

    first = Worker(queue, stuck, concurrency=2, prefetch=3, lock_timeout=60_000, grace=0)
    task = asyncio.create_task(first.run())

    async def holding_five() -> bool:
        return (await queue.stats()).locked == 5  # 2 running, 3 prefetched

    await eventually(holding_five, "the worker to run 2 jobs and prefetch 3", watch=[task])
    assert len(started) == 2
    first.stop()
    await asyncio.wait_for(task, PATIENCE)
    # given back at once (not after their 60 s locks), the prefetched ones uncounted
    assert await other.stats() == QueueStats(ready=6, locked=0, delayed=0, dead=0)
    deliveries: dict[int, int] = {}

    async def handle(job: Job) -> None:
        deliveries[job.payload] = job.deliveries

    second = Worker(other, handle)
    second_task = asyncio.create_task(second.run())
    await eventually(lambda: len(deliveries) == 6, watch=[second_task])
    await _stop(second, second_task)
    assert deliveries == dict.fromkeys(range(6), 1)
    assert len(started) == 2
    assert await other.stats() == EMPTY


async def test_prefetched_jobs_are_given_back_when_the_worker_task_is_cancelled(
    make_real_queue: MakeQueue,
) -> None:
    queue = make_real_queue()
    await queue.put_many(range(6))
    started: list[int] = []

    async def stuck(job: Job) -> None:
        started.append(job.payload)
        await asyncio.sleep(3600)

    worker = Worker(queue, stuck, concurrency=1, prefetch=4, lock_timeout=60_000)
    task = asyncio.create_task(worker.run())

    async def holding_five() -> bool:
        return (await queue.stats()).locked == 5  # 1 running, 4 prefetched

    await eventually(holding_five, "the worker to run 1 job and prefetch 4", watch=[task])
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await asyncio.wait_for(task, PATIENCE)
    # the running job's lock holds until it expires; the 4 prefetched ones wait again now
    assert await queue.stats() == QueueStats(ready=5, locked=1, delayed=0, dead=0)
    rest = await queue.get_many(10, lock_timeout=60_000)
    assert sorted(job.payload for job in rest) == sorted(set(range(6)) - set(started))
    assert {job.deliveries for job in rest} == {1}


async def test_prefetched_jobs_keep_their_locks_while_they_wait(
    make_real_queue: MakeQueue,
) -> None:
    """Jobs wait in the prefetch for 4x their lock: the worker renews them as it renews
    running ones, so a rival polling all the while never gets one, and each runs once."""
    queue, rival = make_real_queue(), make_real_queue()
    await queue.put_many(range(3))
    runs: Counter[int] = Counter()

    async def slow(job: Job) -> None:
        runs[job.payload] += 1
        await asyncio.sleep(1.2)

    # 600 ms locks: renewals (every 100 ms) keep up on a loaded machine
    worker = Worker(queue, slow, concurrency=1, prefetch=2, lock_timeout=600)
    task = asyncio.create_task(worker.run())
    rival_got: list[Job] = []
    deadline = time.monotonic() + PATIENCE
    while worker.counts.get("complete", 0) < 3 and not rival_got and not task.done():
        job = await rival.get(lock_timeout=60_000)
        if job is not None:
            rival_got.append(job)
        await asyncio.sleep(0.02)
        assert time.monotonic() < deadline, "the worker took too long"
    await _stop(worker, task)
    assert rival_got == []
    assert runs == dict.fromkeys(range(3), 1)
    assert await queue.stats() == EMPTY


WORKER_PROCESS = textwrap.dedent(
    """
    import asyncio
    import sys

    from aioredisjobqueue import Job, RedisJobQueue, Worker


    async def main() -> None:
        name, url, lock_ms, mode = sys.argv[1:5]
        queue = RedisJobQueue(name, url=url)

        async def handle(job: Job) -> None:
            print(job.payload, flush=True)
            await asyncio.sleep(3600 if mode == "stuck" else 0.002)
            await queue.redis.hincrby(name + ":runs", str(job.payload), 1)

        worker = Worker(queue, handle, concurrency=2, prefetch=4, lock_timeout=float(lock_ms))
        await worker.run(handle_signals=True)


    asyncio.run(main())
    """
)


async def _worker_process(
    tmp_path: Path, project_root: Path, *args: str
) -> asyncio.subprocess.Process:
    script = tmp_path / "worker_process.py"
    script.write_text(WORKER_PROCESS)
    return await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(project_root)},
    )


async def test_prefetched_jobs_of_a_killed_worker_process_come_back_and_run_once(
    make_real_queue: MakeQueue,
    redis_server: RedisServer,
    queue_name: str,
    tmp_path: Path,
    project_root: Path,
) -> None:
    queue = make_real_queue()
    await queue.put_many(range(10))
    proc = await _worker_process(
        tmp_path, project_root, queue_name, redis_server.url, "1000", "stuck"
    )
    assert proc.stdout is not None
    started: list[int] = []
    try:
        while len(started) < 2:
            line = await asyncio.wait_for(proc.stdout.readline(), PATIENCE)
            if not line:
                pytest.fail(f"worker process exited early: {(await proc.communicate())[1]!r}")
            started.append(int(line))

        async def holding_six() -> bool:
            return (await queue.stats()).locked == 6  # 2 running, 4 prefetched

        await eventually(holding_six, "the worker process to prefetch 4 jobs")
        sigkill(proc)
    finally:
        sigkill(proc)
        await proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    # the 6 jobs it held come back when their locks expire; a second worker runs all
    runs: Counter[int] = Counter()
    deliveries: dict[int, int] = {}

    async def handle(job: Job) -> None:
        runs[job.payload] += 1
        deliveries[job.payload] = job.deliveries

    second = Worker(queue, handle, prefetch=4)
    task = asyncio.create_task(second.run())
    await eventually(lambda: len(runs) == 10, "every job to run", watch=[task])
    await eventually(lambda: second.counts.get("complete") == 10, watch=[task])
    await _stop(second, task)
    assert runs == dict.fromkeys(range(10), 1)
    held_by_the_dead = [p for p, d in deliveries.items() if d == 2]
    assert len(held_by_the_dead) == 6  # its running and its prefetched jobs
    assert set(started) <= set(held_by_the_dead)
    assert await queue.stats() == EMPTY


async def test_workers_of_several_queue_objects_and_processes_run_each_job_once(
    make_real_queue: MakeQueue,
    redis_server: RedisServer,
    queue_name: str,
    tmp_path: Path,
    project_root: Path,
) -> None:
    queue = make_real_queue()
    await queue.put_many(range(600))
    runs = f"{queue_name}:runs"
    procs = [
        await _worker_process(tmp_path, project_root, queue_name, redis_server.url, "30000", "ok")
        for _ in range(2)
    ]

    async def handle(job: Job) -> None:
        await asyncio.sleep(0.002)
        await job.queue.redis.hincrby(runs, str(job.payload), 1)

    workers = [Worker(make_real_queue(), handle, concurrency=3, prefetch=3) for _ in range(3)]
    tasks: list[asyncio.Task[None]] = []
    try:
        for proc in procs:  # each process runs jobs before the others start
            assert proc.stdout is not None
            assert await asyncio.wait_for(proc.stdout.readline(), PATIENCE)
        tasks.extend(asyncio.create_task(w.run()) for w in workers)

        async def all_ran() -> bool:
            return await queue.redis.hlen(runs) == 600 and (await queue.stats()).total == 0

        await eventually(all_ran, "every job to run", watch=tasks)
    finally:
        for proc in procs:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
        outputs = [await asyncio.wait_for(proc.communicate(), PATIENCE) for proc in procs]
        for worker, task in zip(workers, tasks, strict=True):
            await _stop(worker, task)
    counts = {int(k): int(v) for k, v in (await queue.redis.hgetall(runs)).items()}
    await queue.redis.delete(runs)
    assert counts == dict.fromkeys(range(600), 1)
    assert [proc.returncode for proc in procs] == [0, 0], outputs
    assert await queue.stats() == EMPTY


async def test_a_worker_whose_connections_keep_dropping_runs_each_job_once(
    redis_server: RedisServer, queue_name: str
) -> None:
    """After every 40th run the proxy drops every connection of the worker's queue, in the
    middle of its rounds (completions and takes in flight) and while jobs wait in its
    prefetch: each job still runs once, and the queue ends empty."""
    runs: Counter[int] = Counter()
    drops: list[int] = []
    async with FaultProxy(redis_server.port) as proxy:
        queue = RedisJobQueue(queue_name, url=proxy.url)
        direct = RedisJobQueue(queue_name, url=redis_server.url)
        try:
            await direct.put_many(range(1000))

            async def handle(job: Job) -> None:
                runs[job.payload] += 1
                if sum(runs.values()) % 40 == 0:
                    # counted by progress, not by time: a fast machine drops as often
                    drops.append(proxy.drop_all())
                await asyncio.sleep(0.001)

            # 3 s locks: a get whose reply was lost comes back within the test's patience
            worker = Worker(queue, handle, concurrency=10, prefetch=10, lock_timeout=3000)
            task = asyncio.create_task(worker.run())

            async def empty() -> bool:
                return len(runs) == 1000 and (await direct.stats()).total == 0

            await eventually(empty, "the queue to empty", watch=[task])
            await _stop(worker, task)
        finally:
            await queue.aclose()
            await direct.aclose()
    # every drop found the worker connected, since it had just taken the job that ran
    assert len(drops) >= 25 and all(drops), drops
    assert runs == dict.fromkeys(range(1000), 1)
