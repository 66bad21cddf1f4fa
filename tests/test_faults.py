"""Faults and concurrency, on a real redis-server only (never fakeredis).

Many consumers and producers at once, a consumer process killed with SIGKILL, connections
killed server-side, a Redis restart, cancellation at random moments, and fencing of a
lock that really expired. Every test checks what a user sees: each job completed exactly
once, none lost, and an empty queue at the end.
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import signal
import sys
import textwrap
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from helpers import PATIENCE, eventually, sigkill
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aioredisjobqueue import (
    DuplicateJobError,
    Job,
    LockLostError,
    QueueStats,
    RedisJobQueue,
    job_id,
)
from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

EMPTY = QueueStats(ready=0, locked=0, delayed=0, dead=0)
# what a user sees when the connection drops or Redis is away
TRANSIENT = (RedisConnectionError, RedisTimeoutError, OSError)


# -- helpers -------------------------------------------------------------------------


QueueFactory = Callable[..., RedisJobQueue]


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, persisting with appendfsync always."""
    directory = tmp_path / "redis"
    directory.mkdir()
    server = RedisServer(directory, appendonly=True)
    server.start()
    yield server
    server.stop()


@dataclass
class Ledger:
    """What consumers saw: deliveries and successful complete() calls per job id.

    ``maybe`` holds jobs whose complete() failed on the connection and then raised
    LockLostError on retry: the first call may have removed the job without its reply
    arriving. ``interrupted`` holds jobs whose complete() was cancelled mid-call.
    ``reput`` holds jobs put again after a put that failed on the connection: the failed
    put may have queued the job, and a consumer completed it, before the retry queued
    it anew (equal content is unique only while it is in the queue), so those may be
    completed twice, once per time they were queued.
    """

    delivered: Counter[str] = field(default_factory=Counter)
    completed: Counter[str] = field(default_factory=Counter)
    maybe: set[str] = field(default_factory=set)
    interrupted: set[str] = field(default_factory=set)
    reput: set[str] = field(default_factory=set)
    lost: list[str] = field(default_factory=list)
    errors: list[BaseException] = field(default_factory=list)

    def accounted(self) -> set[str]:
        return set(self.completed) | self.maybe | self.interrupted

    def assert_each_completed_once(self, ids: Iterable[str]) -> None:
        expected = set(ids)
        assert self.errors == []
        twice = {i: n for i, n in self.completed.items() if n > (2 if i in self.reput else 1)}
        assert twice == {}, f"{len(twice)} jobs completed more than once"
        assert set(self.completed) - expected == set(), "completed ids that were never put"
        # a job nobody saw complete() succeed for must be one whose completion lost its
        # reply (the callers check that such jobs are gone from Redis)
        never = expected - self.accounted()
        assert never == set(), f"{len(never)} jobs never completed"


async def complete_with_retry(job: Job, ledger: Ledger) -> None:
    """Complete ``job`` as a careful user would: retry while Redis is unreachable."""
    failed = False
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        try:
            await job.complete()
        except TRANSIENT:
            if asyncio.get_running_loop().time() > deadline:
                raise
            failed = True
            await asyncio.sleep(0.02)
            continue
        except LockLostError:
            if failed:
                ledger.maybe.add(job.id)
            else:
                ledger.lost.append(job.id)
            return
        ledger.completed[job.id] += 1
        return


async def put_many_with_retry(queue: RedisJobQueue, payloads: list[Any], ledger: Ledger) -> None:
    """put_many, retried while Redis is unreachable (it never raises for duplicates)."""
    failed = False
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        try:
            ids = await queue.put_many(payloads)
        except TRANSIENT:
            if asyncio.get_running_loop().time() > deadline:
                raise
            failed = True
            await asyncio.sleep(0.02)
            continue
        if failed:
            ledger.reput.update(i for i in ids if i is not None)
        return


async def put_with_retry(queue: RedisJobQueue, payload: Any, ledger: Ledger) -> None:
    """put, retried while Redis is unreachable; a duplicate after a failure was ours."""
    failed = False
    deadline = asyncio.get_running_loop().time() + PATIENCE
    while True:
        try:
            new_id = await queue.put(payload)
        except DuplicateJobError:
            if failed:
                return  # the failed call got through; its reply was lost
            raise
        except TRANSIENT:
            if asyncio.get_running_loop().time() > deadline:
                raise
            failed = True
            await asyncio.sleep(0.02)
            continue
        if failed:
            ledger.reput.add(new_id)
        return


async def cancel_all(tasks: Iterable[asyncio.Task[Any]]) -> None:
    """Cancel tasks that must still be running, and check they end cancelled."""
    tasks = list(tasks)
    for task in tasks:
        assert not task.done(), f"a task ended early: {task!r}"
        task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), PATIENCE)
    for result in results:
        assert isinstance(result, asyncio.CancelledError), repr(result)


async def queue_keys_left(url: str, queue: RedisJobQueue) -> int:
    """How many of the queue's Redis keys still exist (0 once every job is gone)."""
    async with aioredis.Redis.from_url(url) as raw:
        return int(await raw.exists(*queue.keys.all()))


async def server_time_us(url: str) -> int:
    async with aioredis.Redis.from_url(url) as raw:
        seconds, micros = await raw.time()
        return int(seconds) * 1_000_000 + int(micros)


# -- 1. many consumers and producers ------------------------------------------------


async def run_many_consumers_and_producers(
    consumer_queues: list[RedisJobQueue], producer_queues: list[RedisJobQueue]
) -> tuple[Ledger, set[str]]:
    """20 consumers, 5 producers putting 5,000 unique jobs; locks never expire here."""
    jobs_per_producer = 1000
    ledger = Ledger()
    put_ids: set[str] = set()

    async def consumer(queue: RedisJobQueue) -> None:
        async for job in queue.consume(lock_timeout=30_000, min_interval=0.001, max_interval=0.05):
            ledger.delivered[job.id] += 1
            if job.deliveries != 1:
                ledger.errors.append(AssertionError(f"{job!r} delivered again"))
            try:
                await job.complete()
            except Exception as exc:
                ledger.errors.append(exc)
                continue
            ledger.completed[job.id] += 1

    async def producer(queue: RedisJobQueue, p: int) -> None:
        payloads = [{"producer": p, "n": n} for n in range(jobs_per_producer)]
        if p % 2 == 0:
            for payload in payloads:
                put_ids.add(await queue.put(payload))
        else:
            for start in range(0, len(payloads), 50):
                ids = await queue.put_many(payloads[start : start + 50])
                assert None not in ids
                put_ids.update(i for i in ids if i is not None)

    consumers = [
        asyncio.create_task(consumer(consumer_queues[i % len(consumer_queues)])) for i in range(20)
    ]
    producers = [
        asyncio.create_task(producer(producer_queues[p % len(producer_queues)], p))
        for p in range(5)
    ]
    total = 5 * jobs_per_producer
    try:
        await asyncio.wait_for(asyncio.gather(*producers), PATIENCE)
        assert len(put_ids) == total
        await eventually(
            lambda: len(ledger.completed) >= total or bool(ledger.errors),
            "every job to be completed",
            within=60,
            watch=consumers,
        )
        # nothing more may arrive: no job is due again while its 30 s lock lasts
        await asyncio.sleep(0.1)
    finally:
        for task in producers:
            task.cancel()
        await cancel_all(consumers)
    return ledger, put_ids


async def test_20_consumers_on_one_queue_object_complete_each_of_5000_jobs_once(
    make_real_queue: QueueFactory,
) -> None:
    queue = make_real_queue()
    ledger, ids = await run_many_consumers_and_producers([queue], [queue])
    ledger.assert_each_completed_once(ids)
    assert ledger.maybe == set() and ledger.lost == []
    assert set(ledger.delivered) == ids
    assert set(ledger.delivered.values()) == {1}, "a job was delivered twice under a live lock"
    assert await queue.stats() == EMPTY


async def test_20_consumers_on_5_queue_objects_complete_each_of_5000_jobs_once(
    make_real_queue: QueueFactory,
) -> None:
    queues = [make_real_queue() for _ in range(5)]
    ledger, ids = await run_many_consumers_and_producers(queues, queues)
    ledger.assert_each_completed_once(ids)
    assert ledger.maybe == set() and ledger.lost == []
    assert set(ledger.delivered) == ids
    assert set(ledger.delivered.values()) == {1}, "a job was delivered twice under a live lock"
    assert await queues[0].stats() == EMPTY


# -- 2. concurrent puts of equal content ----------------------------------------------


async def test_50_concurrent_puts_of_equal_content_queue_it_once(
    make_real_queue: QueueFactory,
) -> None:
    queues = [make_real_queue() for _ in range(5)]
    # warm each pool up so the puts below race on Redis, not on connecting
    await asyncio.gather(*(q.stats() for q in queues for _ in range(10)))
    start = asyncio.Event()

    async def put(i: int) -> str:
        # equal JSON values, whatever the key order
        payload = {"task": "resize", "size": [640, 480]}
        if i % 2:
            payload = {"size": [640, 480], "task": "resize"}
        await start.wait()
        return await queues[i % len(queues)].put(payload)

    tasks = [asyncio.create_task(put(i)) for i in range(50)]
    await asyncio.sleep(0.05)
    start.set()
    results = await asyncio.gather(*tasks, return_exceptions=True)

    expected_id = job_id({"task": "resize", "size": [640, 480]})
    succeeded = [r for r in results if isinstance(r, str)]
    duplicates = [r for r in results if isinstance(r, DuplicateJobError)]
    assert succeeded == [expected_id]
    assert len(duplicates) == 49, [r for r in results if not isinstance(r, str | DuplicateJobError)]
    assert {d.job_id for d in duplicates} == {expected_id}
    assert await queues[0].stats() == QueueStats(ready=1, locked=0, delayed=0, dead=0)
    job = await queues[1].get()
    assert job is not None and job.id == expected_id
    assert await queues[2].get() is None


# -- 3. a consumer process killed with SIGKILL ---------------------------------------

CRASHING_CONSUMER = textwrap.dedent(
    """
    import asyncio
    import sys

    from aioredisjobqueue import RedisJobQueue


    async def main() -> None:
        name, url, count, lock_timeout = sys.argv[1:5]
        queue = RedisJobQueue(name, url=url)
        jobs = await queue.get_many(int(count), lock_timeout=float(lock_timeout))
        for job in jobs:
            print(job.id, flush=True)
        print("READY", flush=True)
        await asyncio.sleep(3600)


    asyncio.run(main())
    """
)


async def test_jobs_of_a_killed_consumer_process_come_back_after_their_lock_expires(
    make_real_queue: QueueFactory,
    redis_server: RedisServer,
    queue_name: str,
    tmp_path: Path,
    project_root: Path,
) -> None:
    lock_ms = 3000  # room for the looks below before it expires, on a loaded machine
    queue = make_real_queue()
    ids = await queue.put_many([{"crash": n} for n in range(10)])
    script = tmp_path / "crashing_consumer.py"
    script.write_text(CRASHING_CONSUMER)
    env = {**os.environ, "PYTHONPATH": str(project_root)}
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        queue_name,
        redis_server.url,
        "10",
        str(lock_ms),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )
    assert proc.stdout is not None
    taken: list[str] = []
    try:
        while True:
            line = (await asyncio.wait_for(proc.stdout.readline(), PATIENCE)).decode().strip()
            if not line:
                _, err = await proc.communicate()
                pytest.fail(f"consumer process exited early: {err.decode()}")
            if line == "READY":
                break
            taken.append(line)
        sigkill(proc)
    finally:
        sigkill(proc)
        await proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    assert sorted(taken) == sorted(i for i in ids if i is not None)

    # the dead process's locks still hold: nobody else gets those jobs yet
    async with aioredis.Redis.from_url(redis_server.url) as raw:
        expiries = [await raw.zscore(queue.keys.locked, bytes.fromhex(i)) for i in taken]
    assert None not in expiries
    first_expiry = min(int(e) for e in expiries if e is not None)
    assert await queue.get_many(10, lock_timeout=30_000) == []
    checked_at = await server_time_us(redis_server.url)
    assert checked_at < first_expiry, "the machine was too slow to look before the lock expired"
    assert await queue.stats() == QueueStats(ready=0, locked=10, delayed=0, dead=0)

    # after expiry, every one of them comes back, for the second time
    other = make_real_queue()
    got: list[Job] = []

    async def got_all() -> bool:
        got.extend(await other.get_many(10, lock_timeout=30_000))
        return len(got) >= 10

    await eventually(got_all, "the killed consumer's jobs to come back")
    assert sorted(j.id for j in got) == sorted(taken)
    assert {j.deliveries for j in got} == {2}
    for job in got:
        await job.complete()
    assert await other.stats() == EMPTY
    assert await queue_keys_left(redis_server.url, other) == 0


# -- 4. connections killed server-side -----------------------------------------------


async def test_consume_survives_connections_killed_server_side_and_loses_nothing(
    own_server: RedisServer, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="aioredisjobqueue")
    consumer_queue = RedisJobQueue(queue_name, url=own_server.url)
    producer_queue = RedisJobQueue(queue_name, url=own_server.url)
    killer = aioredis.Redis.from_url(own_server.url)
    ledger = Ledger()
    put_payloads: list[Any] = []
    killed: list[int] = []

    async def consumer() -> None:
        async for job in consumer_queue.consume(
            lock_timeout=1000, min_interval=0.001, max_interval=0.05
        ):
            ledger.delivered[job.id] += 1
            await complete_with_retry(job, ledger)

    async def producer(batches: range) -> None:
        for b in batches:
            payloads = [{"batch": b, "n": n} for n in range(20)]
            put_payloads.extend(payloads)
            if b % 2:
                await put_many_with_retry(producer_queue, payloads, ledger)
            else:
                for payload in payloads:
                    await put_with_retry(producer_queue, payload, ledger)
            await asyncio.sleep(0.01)

    async def kill_clients(times: int) -> None:
        for k in range(times):
            await asyncio.sleep(0.05)
            if k % 2 == 0:
                # stall the scripts on the server, then drop the connections, so that
                # commands are surely in flight when their connection goes
                await killer.execute_command("CLIENT", "PAUSE", "2000", "WRITE")
                await asyncio.sleep(0.1)
            try:
                n = await killer.execute_command(
                    "CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes"
                )
                killed.append(int(n))
            finally:
                if k % 2 == 0:
                    await killer.execute_command("CLIENT", "UNPAUSE")

    consumers = [asyncio.create_task(consumer()) for _ in range(2)]
    try:
        await asyncio.wait_for(asyncio.gather(producer(range(20)), kill_clients(10)), PATIENCE)
        assert len(killed) == 10 and sum(killed) > 0
        # the loops go on after the last kill: jobs put now are consumed too
        await producer(range(20, 25))
        ids = {job_id(p) for p in put_payloads}
        assert len(ids) == 25 * 20
        await eventually(
            lambda: ledger.accounted() >= ids, "every job to be completed", watch=consumers
        )
        await asyncio.sleep(0.05)
    finally:
        try:
            await cancel_all(consumers)
        finally:
            await killer.aclose()
            await consumer_queue.aclose()
            await producer_queue.aclose()

    # idle loops read by the hand-off inbox (its read failing), busy ones by polls
    seen = ("Redis unavailable", "inbox read failed")
    assert any(s in r.getMessage() for r in caplog.records for s in seen), (
        "no consume() loop saw a dropped connection: the test did not test anything"
    )
    ledger.assert_each_completed_once(ids)
    async with RedisJobQueue(queue_name, url=own_server.url) as check:
        assert await check.stats() == EMPTY
        assert await queue_keys_left(own_server.url, check) == 0


# -- 5. Redis restart ----------------------------------------------------------------


async def test_consume_survives_a_redis_restart_and_loses_no_job(
    own_server: RedisServer, queue_name: str
) -> None:
    queue = RedisJobQueue(queue_name, url=own_server.url)
    ledger = Ledger()
    before = [{"before": n} for n in range(200)]
    after = [{"after": n} for n in range(100)]
    twentieth = asyncio.Event()

    async def consumer() -> None:
        async for job in queue.consume(lock_timeout=1000, min_interval=0.001, max_interval=0.05):
            ledger.delivered[job.id] += 1
            await complete_with_retry(job, ledger)
            if len(ledger.completed) >= 20:
                twentieth.set()
            await asyncio.sleep(0.005)  # some work, so jobs are left at the restart

    await queue.put_many(before)
    task = asyncio.create_task(consumer())
    try:
        await asyncio.wait_for(twentieth.wait(), PATIENCE)
        await asyncio.to_thread(own_server.stop)
        done_at_stop = len(ledger.completed)
        assert done_at_stop < len(before), "every job was done before the restart"
        await asyncio.sleep(1.0)
        assert not task.done()
        await asyncio.to_thread(own_server.start)
        for payload in after:
            await put_with_retry(queue, payload, ledger)
        ids = {job_id(p) for p in before + after}
        await eventually(
            lambda: ledger.accounted() >= ids, "every job to be completed", watch=[task]
        )
        await asyncio.sleep(0.05)
        await cancel_all([task])
    finally:
        if not task.done():
            task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await queue.aclose()

    ledger.assert_each_completed_once(ids)
    async with RedisJobQueue(queue_name, url=own_server.url) as check:
        assert await check.stats() == EMPTY
        assert await queue_keys_left(own_server.url, check) == 0


# -- 6. cancellation at random moments -----------------------------------------------


CANCEL_JOBS = 1500
CANCEL_ROUNDS = 30


@pytest.mark.parametrize("client", ["given-client-with-socket-timeout", "own-pool"])
async def test_consumers_cancelled_at_random_moments_stop_promptly_and_lose_nothing(
    client: str, redis_server: RedisServer, queue_name: str
) -> None:
    seed = random.randrange(1 << 32)
    rng = random.Random(seed)
    given: aioredis.Redis | None = None
    if client == "own-pool":
        queue = RedisJobQueue(queue_name, url=redis_server.url)
    else:
        # redis-py's defaults: socket_timeout=5, so every send runs under wait_for
        given = aioredis.Redis.from_url(redis_server.url)
        queue = RedisJobQueue(queue_name, redis=given)
    ledger = Ledger()
    total = CANCEL_JOBS
    rounds = CANCEL_ROUNDS
    per_round = 4

    async def consumer() -> None:
        async for job in queue.consume(lock_timeout=300, min_interval=0.001, max_interval=0.01):
            ledger.delivered[job.id] += 1
            try:
                await job.complete()
            except LockLostError:
                ledger.lost.append(job.id)
                continue
            except asyncio.CancelledError:
                ledger.interrupted.add(job.id)  # it may or may not have been removed
                raise
            ledger.completed[job.id] += 1

    try:
        ids = await queue.put_many([{"cancel": n} for n in range(total)])
        assert None not in ids
        cancelled = 0
        for r in range(rounds):
            tasks = [asyncio.create_task(consumer()) for _ in range(per_round)]
            for task in tasks:
                await asyncio.sleep(rng.uniform(0, 0.005))
                task.cancel()
            for task in tasks:
                done, _ = await asyncio.wait({task}, timeout=2.0)
                assert task in done, f"round {r}: a cancelled consumer still runs (seed {seed})"
                assert task.cancelled(), (
                    f"round {r}: the consumer ended with {task.exception()!r}, not cancelled "
                    f"(seed {seed})"
                )
                cancelled += 1
        assert cancelled >= 100
        assert ledger.completed, "no job was completed between cancellations"

        # past every lock's expiry, one consumer finishes what is left (a pool that
        # lost connections to the cancellations would hang here: hence the bound)
        await asyncio.sleep(0.5)

        async def finish() -> None:
            while (await queue.stats()).total:
                jobs = await queue.get_many(100, lock_timeout=30_000)
                if not jobs:
                    await asyncio.sleep(0.05)
                for job in jobs:
                    await job.complete()
                    ledger.completed[job.id] += 1

        await asyncio.wait_for(finish(), PATIENCE)
        ledger.assert_each_completed_once(i for i in ids if i is not None)
        assert await queue.stats() == EMPTY
        assert await queue_keys_left(redis_server.url, queue) == 0
    finally:
        await queue.aclose()
        if given is not None:
            await given.aclose()


# -- 7. fencing under a real expiry ---------------------------------------------------


async def test_a_consumer_whose_lock_expired_and_was_taken_is_fenced_off(
    make_real_queue: QueueFactory,
) -> None:
    a_queue = make_real_queue()
    b_queue = make_real_queue()
    await a_queue.put({"fence": 1})
    a = await a_queue.get(lock_timeout=100)
    assert a is not None and a.deliveries == 1

    b: Job | None = None

    async def b_took_it() -> bool:
        nonlocal b
        b = await b_queue.get(lock_timeout=30_000)
        return b is not None

    await eventually(b_took_it, "A's lock to expire")
    assert b is not None and b.id == a.id and b.deliveries == 2

    with pytest.raises(LockLostError) as lost:
        await a.complete()
    assert lost.value.job_id == a.id and lost.value.action == "complete"
    with pytest.raises(LockLostError):
        await a.extend(30_000)
    with pytest.raises(LockLostError):
        await a.release()
    # A's refused calls left B's lock alone
    assert await a_queue.stats() == QueueStats(ready=0, locked=1, delayed=0, dead=0)
    assert await a_queue.get(lock_timeout=30_000) is None

    await b.complete()
    assert await b_queue.stats() == EMPTY
