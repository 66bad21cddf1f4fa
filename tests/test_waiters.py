"""The hand-off's waiters zset lives no longer than its registrations, and purge removes it.

A queue object with idle consumers registers in ``ajq:{NAME}:waiters`` for each blocking
read; a process killed while it waited leaves its registration behind, and nobody else
removes it unless another consumer registers. The zset expires with its longest
registration, and ``purge()`` deletes it; neither keeps the hand-off from working.
"""

from __future__ import annotations

import asyncio
import textwrap
from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from pathlib import Path

import pytest
from conftest import MakeQueue
from helpers import eventually, server_clock_passes, server_time_us
from test_cli import assert_one_line_error, cli
from test_handoff import LONG_LOCK, consume_into, handed, kill_once_waiting, registered, stop

from aioredisjobqueue import Job, RedisJobQueue
from aioredisjobqueue._inspect import queue_names
from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

IDLE_CONSUMER = textwrap.dedent(
    """
    import asyncio
    import sys

    from aioredisjobqueue import RedisJobQueue


    async def main() -> None:
        name, url, max_interval = sys.argv[1:4]
        queue = RedisJobQueue(name, url=url)
        async for job in queue.consume(lock_timeout=60_000, max_interval=float(max_interval)):
            print(job.id, flush=True)


    asyncio.run(main())
    """
)

KillConsumer = Callable[[RedisJobQueue, float], AbstractAsyncContextManager[None]]


@pytest.fixture
def killed_consumer(redis_server: RedisServer, tmp_path: Path, project_root: Path) -> KillConsumer:
    """``async with killed_consumer(queue, max_interval)``: a process that consumed
    ``queue`` was SIGKILLed while it waited for the hand-off: its registration is left."""
    script = tmp_path / "idle_consumer.py"
    script.write_text(IDLE_CONSUMER)

    @asynccontextmanager
    async def kill(queue: RedisJobQueue, max_interval: float) -> AsyncIterator[None]:
        await kill_once_waiting(queue, project_root, script, redis_server.url, str(max_interval))
        yield

    return kill


async def test_the_registration_of_a_killed_consumer_expires_with_the_waiters_key(
    make_real_queue: MakeQueue, killed_consumer: KillConsumer
) -> None:
    queue = make_real_queue()
    async with killed_consumer(queue, 1.0):  # a registration of 1.5 s
        ttl_ms = await queue.redis.pttl(queue.keys.waiters)
        assert 0 < ttl_ms <= 1500
        # nobody registers again, so nobody would remove it: the key expires by itself
        await eventually(lambda: _gone(queue), "the waiters key to expire")
    # and the queue works as before: a put with no waiter queues the job
    await queue.put("nobody waits")
    job = await queue.get(lock_timeout=LONG_LOCK)
    assert job is not None and (job.payload, job.deliveries) == ("nobody waits", 1)


async def test_a_short_registration_does_not_cut_a_longer_ones_life(
    make_real_queue: MakeQueue,
) -> None:
    patient, hasty, producer = make_real_queue(), make_real_queue(), make_real_queue()
    got: list[Job] = []
    waiting = asyncio.create_task(consume_into(patient, got, max_interval=60.0))
    hurried = asyncio.create_task(consume_into(hasty, [], max_interval=0.2))
    try:
        await eventually(lambda: registered(producer, 2), "both to wait", watch=[waiting, hurried])
        seen = set(await producer.redis.zrange(producer.keys.waiters, 0, -1))

        async def registered_again() -> bool:
            return bool(set(await producer.redis.zrange(producer.keys.waiters, 0, -1)) - seen)

        # the hasty one registers again (for 0.7 s) while the patient one waits 60 s
        await eventually(registered_again, "a new registration", watch=[waiting, hurried])
        await stop(hurried)
        await hasty.aclose()
        # past the end of anything the hasty one registered: the patient one still waits
        now = await server_time_us(producer.redis)
        await server_clock_passes(producer.redis, now + 700_000)
        assert await registered(producer)
        job_id = await producer.put("for the patient one")
        await eventually(lambda: got, "the job", watch=[waiting])
        assert [j.id for j in got] == [job_id]
        assert handed(patient) == 1  # by hand-off, not by a wake-up and a get
        await got[0].complete()
    finally:
        await stop(waiting)
        await stop(hurried)


async def test_purge_removes_the_waiters_key(
    make_real_queue: MakeQueue, killed_consumer: KillConsumer
) -> None:
    queue = make_real_queue()
    await queue.put_many(["a", "b"])
    await queue.put("later", delay=60)
    async with killed_consumer(queue, 30.0):  # its registration holds for 30.5 s
        assert await queue.redis.exists(queue.keys.waiters) == 1
        assert await queue.purge() == 3
        assert await queue.redis.exists(queue.keys.waiters) == 0


async def test_an_idle_consumer_gets_jobs_by_hand_off_again_after_a_purge(
    make_real_queue: MakeQueue,
) -> None:
    consumer, producer = make_real_queue(), make_real_queue()
    await producer.put("purged", delay=60)
    got: list[Job] = []
    task = asyncio.create_task(consume_into(consumer, got, max_interval=0.5))
    try:
        await eventually(lambda: registered(producer), "the consumer to wait", watch=[task])
        before = set(await producer.redis.zrange(producer.keys.waiters, 0, -1))
        assert await producer.purge() == 1
        after = set(await producer.redis.zrange(producer.keys.waiters, 0, -1))
        assert not before & after  # its registration went (it may have made a new one)
        # it registers again at its next read, and a put hands the job to it
        await eventually(lambda: registered(producer), "the consumer to wait again", watch=[task])
        job_id = await producer.put("after the purge")
        await eventually(lambda: got, "the job", watch=[task])
        assert [(j.id, j.deliveries) for j in got] == [(job_id, 1)]
        assert handed(consumer) == 1
        await got[0].complete()
    finally:
        await stop(task)


async def test_a_queue_with_only_waiters_is_not_listed(
    make_real_queue: MakeQueue, redis_server: RedisServer
) -> None:
    # an idle consumer of a queue nothing was ever put in registers all the same
    queue = make_real_queue()
    task = asyncio.create_task(consume_into(queue, [], max_interval=60.0))
    try:
        await eventually(lambda: registered(queue), "the consumer to wait", watch=[task])
        # queues are found by the marker of their first put, as with their workers' keys
        assert queue.name not in await queue_names(queue.redis)
        result = await asyncio.to_thread(cli, "stats", queue.name, url=redis_server.url)
        assert_one_line_error(result, 1, f"no queue {queue.name!r}")
    finally:
        await stop(task)


async def _gone(queue: RedisJobQueue) -> bool:
    return int(await queue.redis.exists(queue.keys.waiters)) == 0
