"""Direct hand-off: a put hands new jobs to an idle consumer's inbox, locked for it.

Each job is still delivered once, and comes back when the consumer it was handed to goes
away: at once when that consumer was cancelled, after its lock when its process died; a
dropped connection loses nothing. Idle consumers send Redis about one round trip per
``max_interval``.
"""

from __future__ import annotations

import asyncio
import os
import signal
import sys
import textwrap
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import MakeQueue
from deployments import every_deployment
from faultproxy import FaultProxy
from helpers import (
    PATIENCE,
    eventually,
    eventually_sync,
    server_clock_passes,
    server_time_us,
    sigkill,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from aioredisjobqueue import DuplicateJobError, Job, QueueStats, RedisJobQueue, Worker
from aioredisjobqueue._poll import Poller
from aioredisjobqueue.testing import RedisClusterServer, RedisSentinelGroup, RedisServer

backend = every_deployment

# consumers take 60 s locks unless said: a job back before that was given back, not expired
LONG_LOCK = 60_000
EMPTY = QueueStats(ready=0, locked=0, delayed=0, dead=0)


async def registered(queue: RedisJobQueue, count: int = 1) -> bool:
    """Whether at least ``count`` queue objects wait for the hand-off of ``queue``'s jobs:
    registrations that have not expired (on the server's clock)."""
    now = await server_time_us(queue.redis)
    return int(await queue.redis.zcount(queue.keys.waiters, f"({now}", "+inf")) >= count


async def kill_once_waiting(
    queue: RedisJobQueue, project_root: Path, script: Path, url: str, *args: str
) -> bytes:
    """Run ``script QUEUE URL ARGS`` in a process of its own, SIGKILL it once it waits for
    the hand-off of ``queue``'s jobs (its registration is left), and return its stdout."""
    proc = await asyncio.create_subprocess_exec(
        sys.executable,
        str(script),
        queue.name,
        url,
        *args,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "PYTHONPATH": str(project_root)},
    )
    try:
        await eventually(lambda: registered(queue), "the consumer process to wait")
        sigkill(proc)
    finally:
        sigkill(proc)
        out, _ = await proc.communicate()
    assert proc.returncode == -signal.SIGKILL
    return out


def handed(queue: RedisJobQueue) -> int:
    """How many jobs were handed off to the consumers of the queue object ``queue``."""
    assert queue._inbox is not None, "this queue object has no hand-off"
    return queue._inbox.handed


async def consume_into(queue: RedisJobQueue, got: list[Job], **options: Any) -> None:
    """Consume, keeping each job (not completing it: the test does)."""
    async for job in queue.consume(**{"lock_timeout": LONG_LOCK, **options}):
        got.append(job)


async def stop(task: asyncio.Task[Any]) -> None:
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


# -- one hop, and only when it keeps the order --------------------------------------------


async def test_an_idle_consumer_gets_a_put_by_hand_off_without_a_get(
    make_queue: MakeQueue,
) -> None:
    consumer_queue, producer_queue = make_queue(), make_queue()
    looks = 0  # get_many calls
    real_get_many = consumer_queue.get_many

    async def counting_get_many(count: int, *, lock_timeout: float = 1000) -> list[Job]:
        nonlocal looks
        looks += 1
        return await real_get_many(count, lock_timeout=lock_timeout)

    consumer_queue.get_many = counting_get_many  # type: ignore[method-assign]
    got: list[Job] = []
    looks_then: list[int] = []

    async def consume() -> None:
        async for job in consumer_queue.consume(lock_timeout=LONG_LOCK, max_interval=60.0):
            got.append(job)
            looks_then.append(looks)

    task = asyncio.create_task(consume())
    try:
        await eventually(lambda: registered(consumer_queue), "the consumer to wait", watch=[task])
        before = looks
        job_id = await producer_queue.put("handed")
        await eventually(lambda: got, "the job", watch=[task])
        assert [(j.id, j.payload, j.deliveries) for j in got] == [(job_id, "handed", 1)]
        assert handed(consumer_queue) == 1
        assert looks_then == [before]  # no get: the put handed it over, locked for it
        status = await producer_queue.status(job_id)
        assert status is not None and status.state == "locked"
        await got[0].complete()
        assert await producer_queue.stats() == EMPTY
    finally:
        await stop(task)


async def test_jobs_due_before_a_put_go_first(make_queue: MakeQueue) -> None:
    consumer_queue, producer_queue = make_queue(), make_queue()
    got: list[Job] = []
    task = asyncio.create_task(consume_into(consumer_queue, got, max_interval=60.0))
    try:
        await eventually(lambda: registered(consumer_queue), "the consumer to wait", watch=[task])
        # put once the consumer waits (however long it took to start), a delayed job is
        # not handed over; it becomes due while the consumer waits (nobody says so: its
        # next read is 60 s away); the put must not hand the new jobs over before it
        await producer_queue.put("first", delay=0.3)
        (waiting,) = await producer_queue.peek(1)
        await server_clock_passes(producer_queue.redis, round(waiting.due_at * 1_000_000))
        await eventually(lambda: registered(consumer_queue), "the consumer to wait", watch=[task])
        await producer_queue.put_many(["second", "third"])
        await eventually(lambda: len(got) == 3, "every job", watch=[task])
        assert [j.payload for j in got] == ["first", "second", "third"]
        assert handed(consumer_queue) == 0
        for job in got:
            await job.complete()
    finally:
        await stop(task)


async def test_a_put_with_no_waiter_queues_and_announces_as_before(
    real_queue: RedisJobQueue, redis_server: RedisServer
) -> None:
    async with aioredis.Redis.from_url(redis_server.url) as admin:
        pubsub = admin.pubsub(ignore_subscribe_messages=True)
        await pubsub.subscribe(real_queue.keys.wake)
        try:
            await real_queue.put("nobody waits")
            message = await eventually(
                lambda: pubsub.get_message(timeout=0.1), "the wake-up message"
            )
            assert message["channel"] == real_queue.keys.wake.encode()
        finally:
            await pubsub.aclose()
        assert await real_queue.stats() == QueueStats(ready=1, locked=0, delayed=0, dead=0)
        assert await admin.exists(real_queue.keys.waiters) == 0
    job = await real_queue.get(lock_timeout=LONG_LOCK)
    assert job is not None and job.deliveries == 1


# -- the consumer goes away ------------------------------------------------------------------


async def test_a_job_handed_to_a_consumer_cancelled_before_it_took_it_comes_back_at_once(
    make_queue: MakeQueue, monkeypatch: pytest.MonkeyPatch
) -> None:
    consumer_queue, producer_queue = make_queue(), make_queue()
    got: list[Job] = []
    task = asyncio.create_task(consume_into(consumer_queue, got, max_interval=60.0))
    real_receive = Poller.receive

    def receive_then_cancel(self: Poller, jobs: list[Any]) -> None:
        real_receive(self, jobs)
        if jobs:
            task.cancel()  # in the same step: the consumer never runs with the job

    monkeypatch.setattr(Poller, "receive", receive_then_cancel)
    await eventually(lambda: registered(consumer_queue), "the consumer to wait", watch=[task])
    job_id = await producer_queue.put("handed, then cancelled")
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled() and got == []
    assert handed(consumer_queue) == 1
    # given back at once, its delivery uncounted, not after its 60 s lock
    await eventually(
        lambda: _is(producer_queue.stats(), QueueStats(1, 0, 0, 0)), "the job to come back"
    )
    job = await producer_queue.get(lock_timeout=LONG_LOCK)
    assert job is not None and (job.id, job.deliveries) == (job_id, 1)


async def test_jobs_put_as_the_consumers_leave_come_back_at_once(make_queue: MakeQueue) -> None:
    consumer_queue, producer_queue = make_queue(), make_queue()
    seen: dict[str, int] = {}
    for n in range(12):
        got: list[Job] = []
        tasks = [asyncio.create_task(consume_into(consumer_queue, got)) for _ in range(3)]
        await eventually(lambda: registered(consumer_queue), "the consumers to wait")
        # the put lands before, while or after the consumers' inbox stops
        put = asyncio.create_task(producer_queue.put(f"job {n}"))
        for _ in range(n % 4):
            await asyncio.sleep(0)
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        await put
        for job in got:
            seen[job.payload] = seen.get(job.payload, 0) + 1
            await job.complete()
        # whatever no consumer got is back at once: none is left locked for 60 s
        await eventually(lambda: _none_locked(producer_queue), "no job locked")
    for job in await producer_queue.get_many(100, lock_timeout=LONG_LOCK):
        assert job.deliveries == 1  # given back uncounted
        seen[job.payload] = seen.get(job.payload, 0) + 1
        await job.complete()
    assert seen == {f"job {n}": 1 for n in range(12)}
    assert await producer_queue.stats() == EMPTY


async def _is(value: Any, expected: Any) -> bool:
    return bool(await value == expected)


async def _none_locked(queue: RedisJobQueue) -> bool:
    return (await queue.stats()).locked == 0


WAITING_CONSUMER = textwrap.dedent(
    """
    import asyncio
    import sys

    from aioredisjobqueue import RedisJobQueue


    async def main() -> None:
        name, url, lock_timeout = sys.argv[1:4]
        queue = RedisJobQueue(name, url=url)
        async for job in queue.consume(lock_timeout=float(lock_timeout), max_interval=30.0):
            print(job.id, flush=True)


    asyncio.run(main())
    """
)


async def test_a_job_handed_to_a_killed_consumer_process_comes_back_after_its_lock(
    make_real_queue: MakeQueue, redis_server: RedisServer, tmp_path: Path, project_root: Path
) -> None:
    lock_ms = 3000  # room for the looks below before it expires, on a loaded machine
    queue = make_real_queue()
    script = tmp_path / "waiting_consumer.py"
    script.write_text(WAITING_CONSUMER)
    out = await kill_once_waiting(queue, project_root, script, redis_server.url, str(lock_ms))
    assert out == b""
    # its registration outlives it (for its 30 s read): the next put hands the job over,
    # locked for the dead consumer, and takes the registration with it
    lost = await queue.put("handed to the dead")
    status = await queue.status(lost)
    assert status is not None and status.state == "locked"
    other = await queue.put("after")
    assert await queue.stats() == QueueStats(ready=1, locked=1, delayed=0, dead=0)
    # nobody gets the first job before its lock expires; then it comes back, delivered twice
    job = await queue.get(lock_timeout=LONG_LOCK)
    assert job is not None and (job.id, job.deliveries) == (other, 1)
    locked_until = await queue.redis.zscore(queue.keys.locked, bytes.fromhex(lost))
    assert await queue.get(lock_timeout=LONG_LOCK) is None
    assert await server_time_us(queue.redis) < int(locked_until), "too slow to look"
    back = await eventually(
        lambda: queue.get(lock_timeout=LONG_LOCK), "the job to come back after its lock"
    )
    assert (back.id, back.deliveries) == (lost, 2)
    assert await server_time_us(queue.redis) >= int(locked_until)


async def test_a_dropped_connection_loses_no_handed_job_and_the_consumer_goes_on(
    make_real_queue: MakeQueue, redis_server: RedisServer
) -> None:
    producer = make_real_queue()
    async with FaultProxy(redis_server.port) as proxy:
        consumer = RedisJobQueue(producer.name, url=proxy.url)
        got: list[Job] = []
        task = asyncio.create_task(consume_into(consumer, got, max_interval=30.0))
        try:
            await eventually(lambda: registered(producer), "the consumer to wait", watch=[task])
            # every connection of the consumer dies, its blocking read too; its
            # registration still holds, so the put hands the job to its inbox list, which
            # its next read (on a new connection) empties
            assert proxy.drop_all() >= 1
            first = await producer.put("while the connection is down")
            await eventually(lambda: got, "the job handed over the drop", watch=[task])
            assert [(j.id, j.deliveries) for j in got] == [(first, 1)]
            assert handed(consumer) == 1
            await got[0].complete()
            # and the consumer goes on, waiting for hand-offs again
            await eventually(lambda: registered(producer), "the consumer to wait again")
            second = await producer.put("after")
            await eventually(lambda: len(got) == 2, "the next job", watch=[task])
            assert got[1].id == second and handed(consumer) == 2
            await got[1].complete()
        finally:
            await stop(task)
            await consumer.aclose()
    assert await producer.stats() == EMPTY


# -- many consumers --------------------------------------------------------------------------

LEDGER_CONSUMER = textwrap.dedent(
    """
    import asyncio
    import sys

    from aioredisjobqueue import RedisJobQueue


    async def main() -> None:
        name, url, ledger, who = sys.argv[1:5]
        queue = RedisJobQueue(name, url=url)

        async def loop() -> None:
            async for job in queue.consume(lock_timeout=60_000, max_interval=30.0):
                await queue.redis.hincrby(ledger, job.payload, 1)
                await queue.redis.hset(ledger + ":by", job.payload, who)
                await job.complete()

        await asyncio.gather(*(loop() for _ in range(3)))


    asyncio.run(main())
    """
)


async def test_several_queue_objects_and_processes_each_run_every_job_once(
    make_real_queue: MakeQueue, redis_server: RedisServer, tmp_path: Path, project_root: Path
) -> None:
    producer = make_real_queue()
    ledger = f"ledger-{producer.name}"
    script = tmp_path / "ledger_consumer.py"
    script.write_text(LEDGER_CONSUMER)
    procs = [
        await asyncio.create_subprocess_exec(
            sys.executable,
            str(script),
            producer.name,
            redis_server.url,
            ledger,
            f"process {n}",
            stderr=asyncio.subprocess.PIPE,
            env={**os.environ, "PYTHONPATH": str(project_root)},
        )
        for n in range(2)
    ]
    queues = [make_real_queue() for _ in range(3)]

    async def loop(queue: RedisJobQueue) -> None:
        async for job in queue.consume(lock_timeout=LONG_LOCK, max_interval=30.0):
            await queue.redis.hincrby(ledger, job.payload, 1)
            await queue.redis.hset(ledger + ":by", job.payload, "here")
            await job.complete()

    tasks = [asyncio.create_task(loop(q)) for q in queues for _ in range(2)]
    try:
        await eventually(lambda: registered(producer, 5), "every queue object to wait")
        payloads = [f"job {n}" for n in range(150)]
        for payload in payloads:
            await producer.put(payload)
            await asyncio.sleep(0.005)
        done = await eventually(
            lambda: _all_counted(producer.redis, ledger, 150), "every job to run", watch=tasks
        )
        assert done == {p.encode(): b"1" for p in payloads}
        by = set((await producer.redis.hgetall(ledger + ":by")).values())
        assert b"here" in by and (b"process 0" in by or b"process 1" in by)
        assert sum(handed(q) for q in queues) >= 1
        await eventually(lambda: _is(producer.stats(), EMPTY), "every job completed")
    finally:
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for proc in procs:
            if proc.returncode is None:
                proc.kill()
            await proc.communicate()
        await producer.redis.delete(ledger, ledger + ":by")


async def _all_counted(redis: Any, ledger: str, count: int) -> dict[bytes, bytes] | None:
    counts: dict[bytes, bytes] = await redis.hgetall(ledger)
    return counts if len(counts) >= count else None


# -- what an idle consumer costs Redis ---------------------------------------------------------

# what an idle consumer sends by itself (the scripts' own commands count apart)
_SENT = ("cmdstat_evalsha", "cmdstat_eval", "cmdstat_blpop", "cmdstat_ping")


@pytest.fixture
def own_server() -> Iterator[RedisServer]:
    """A server of the test's own, whose command counts nobody else moves."""
    with RedisServer() as server:
        yield server


async def _sent(admin: aioredis.Redis) -> int:
    stats = await admin.info("commandstats")
    return sum(int(stats.get(name, {}).get("calls", 0)) for name in _SENT)


async def _requests_while_idle(admin: aioredis.Redis, queue: RedisJobQueue, seconds: float) -> int:
    await eventually(lambda: registered(queue), "the consumers to wait")
    before = await _sent(admin)
    await asyncio.sleep(seconds)  # the window counted, not a wait for a condition
    return await _sent(admin) - before


async def test_idle_consume_loops_send_about_one_round_trip_per_max_interval(
    own_server: RedisServer,
) -> None:
    max_interval, window = 0.5, 3.0
    async with (
        aioredis.Redis.from_url(own_server.url) as admin,
        RedisJobQueue("idle", url=own_server.url) as queue,
    ):
        got: list[Job] = []
        tasks = [
            asyncio.create_task(consume_into(queue, got, max_interval=max_interval))
            for _ in range(10)
        ]
        try:
            sent = await _requests_while_idle(admin, queue, window)
        finally:
            for task in tasks:
                await stop(task)
    # ten idle loops share one inbox: per max_interval one round trip (wait.lua and BLPOP);
    # a loaded machine only makes fewer
    assert sent <= 2 * window / max_interval + 3, f"{sent} commands in {window} s"
    assert got == []


async def test_an_idle_worker_sends_about_one_round_trip_per_second(
    own_server: RedisServer,
) -> None:
    window = 4.0  # the Worker reads for a second at a time (its max_interval)

    async def handler(job: Job) -> None:
        raise AssertionError("no job was put")

    async with (
        aioredis.Redis.from_url(own_server.url) as admin,
        RedisJobQueue("idle", url=own_server.url) as queue,
    ):
        worker = Worker(queue, handler, concurrency=10, heartbeat=60)
        run = asyncio.create_task(worker.run())
        try:
            sent = await _requests_while_idle(admin, queue, window)
        finally:
            worker.stop()
            await asyncio.wait_for(run, PATIENCE)
    assert sent <= 2 * window + 3, f"{sent} commands in {window} s"


# -- failovers ---------------------------------------------------------------------------------


async def _idle_consumer_through(
    reach: dict[str, Any],
    fault: Callable[[str], object],
    moved: Callable[[RedisJobQueue], bool] = lambda _: True,
) -> None:
    """An idle consumer is handed a job, ``fault(queue name)`` moves the queue's primary,
    and the same consumer loop, never ended, is handed jobs by the new primary once both
    queue objects know it (``moved``)."""
    name = f"test-{uuid.uuid4().hex[:12]}"
    async with RedisJobQueue(name, **reach) as consumer, RedisJobQueue(name, **reach) as producer:
        got: list[Job] = []
        task = asyncio.create_task(consume_into(consumer, got, max_interval=1.0))
        try:
            await eventually(lambda: registered(producer), "the consumer to wait", watch=[task])
            await producer.put("before")
            await eventually(lambda: got, "the job before", watch=[task])
            await got[0].complete()
            await asyncio.to_thread(fault, name)
            # until then a put may still reach the old primary, whose writes are lost
            await eventually(lambda: moved(producer) and moved(consumer), "the new primary")

            async def put_after() -> bool:
                # the registration a failover ends is renewed on the new primary
                try:
                    if not await registered(producer):
                        return False
                    await producer.put("after")
                except DuplicateJobError:
                    pass  # an earlier try whose reply the failover cut off queued it
                except (RedisConnectionError, ResponseError):
                    return False  # the failover is not over for this connection yet
                return True

            await eventually(put_after, "a put by hand-off after the failover", watch=[task])
            await eventually(lambda: len(got) == 2, "the job after", watch=[task])
            assert [j.payload for j in got] == ["before", "after"]
            assert handed(consumer) == 2
            await got[1].complete()
        finally:
            await stop(task)
            await producer.purge()


@pytest.mark.real_redis
async def test_an_idle_consumer_rides_out_a_cluster_failover(
    redis_cluster: RedisClusterServer,
) -> None:
    def fail_over(name: str) -> None:
        # CLUSTER FAILOVER on a replica of the queue's primary (in a cluster just started,
        # the replicas may not be known to it yet)
        primary = redis_cluster.node_of(f"ajq:{{{name}}}:waiting")

        def has_replica() -> bool:
            try:
                return redis_cluster.replica_of(primary).running
            except RuntimeError:
                return False

        eventually_sync(has_replica, "a replica of the queue's primary")
        redis_cluster.failover(primary)

    reach = {"url": redis_cluster.url, "cluster": True}
    await _idle_consumer_through(reach, fail_over)


@pytest.mark.real_redis
async def test_an_idle_consumer_rides_out_a_sentinel_failover(
    redis_sentinel: RedisSentinelGroup,
) -> None:
    try:
        await _idle_consumer_through(
            {"url": redis_sentinel.url},
            lambda _: redis_sentinel.failover(),
            lambda queue: bool(queue.redis.connection_pool.switches),
        )
    finally:
        await asyncio.to_thread(redis_sentinel.wait_settled)
