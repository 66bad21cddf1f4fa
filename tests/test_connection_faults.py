"""The connection layer under faults, on a real redis-server: connections killed under
many concurrent callers, a large call cancelled while it is written, BUSY scripts, SCRIPT
FLUSH storms, and a bad call among batched ones. Each test checks what a user would see:
no reply reaches the wrong caller, no loop ends, nothing is lost.
"""

from __future__ import annotations

import asyncio
import logging
import random
from collections import Counter
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
import redis.asyncio as aioredis
from helpers import eventually
from redis.asyncio import BlockingConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from aioredisjobqueue import DuplicateJobError, Job, LockLostError, RedisJobQueue, Worker
from aioredisjobqueue._pipe import Pipe
from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

PATIENCE = 30.0


async def wait_until(
    condition: Callable[[], bool],
    what: str,
    *,
    within: float = PATIENCE,
    watch: list[asyncio.Task[Any]] | tuple[()] = (),
) -> None:
    """Wait until ``condition()``; fail after ``within`` s or when a watched task ends."""
    deadline = asyncio.get_running_loop().time() + within
    while not condition():
        for task in watch:
            if task.done():
                exc = None if task.cancelled() else task.exception()
                pytest.fail(f"a task ended while waiting for {what}: {exc!r}")
        if asyncio.get_running_loop().time() > deadline:
            pytest.fail(f"waited {within} s for {what}")
        await asyncio.sleep(0.01)


async def stop_all(tasks: list[asyncio.Task[Any]]) -> None:
    """Cancel tasks that must still be running; each must end cancelled, not failed."""
    for task in tasks:
        assert not task.done(), f"a task ended early: {task.exception()!r}"
        task.cancel()
    results = await asyncio.wait_for(asyncio.gather(*tasks, return_exceptions=True), PATIENCE)
    for result in results:
        assert isinstance(result, asyncio.CancelledError), repr(result)


@pytest.fixture
def own_server(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own: its faults disturb no other test."""
    server = RedisServer(tmp_path / "redis")
    server.start()
    yield server
    server.stop()


@pytest.fixture
async def admin(own_server: RedisServer) -> AsyncIterator[aioredis.Redis]:
    """A client on one connection of its own: ``CLIENT KILL`` from it spares it."""
    async with aioredis.Redis.from_url(own_server.url, single_connection_client=True) as client:
        yield client


async def kill_clients(
    admin: aioredis.Redis,
    rng: random.Random,
    times: int,
    progress: Callable[[], int],
    *,
    watch: list[asyncio.Task[Any]],
) -> int:
    """``CLIENT KILL TYPE normal``, ``times`` times; how many connections were killed.

    Each kill comes 30-120 ms after the one before, and not before ``progress()`` grew
    since then: the clients connected again and made calls, whatever the machine's speed,
    so every kill finds connections to kill."""
    killed = 0
    for _ in range(times):
        mark = progress()
        await asyncio.sleep(rng.uniform(0.03, 0.12))
        await wait_until(lambda m=mark: progress() > m, "calls between two kills", watch=watch)
        killed += int(await admin.execute_command("CLIENT", "KILL", "TYPE", "normal"))
    return killed


# -- finding 1: connection kills under many concurrent callers ------------------------


async def test_every_reply_reaches_its_own_caller_while_connections_are_killed(
    own_server: RedisServer, admin: aioredis.Redis
) -> None:
    """60 tasks send ECHO of a value of their own on one pipe, as fast as they can, while
    the server kills the connection 40 times: every reply is the caller's own value, and
    every failure a ConnectionError."""
    pool = BlockingConnectionPool.from_url(own_server.url, max_connections=4, timeout=None)
    pipe = Pipe(pool)
    replies = 0
    failures = 0

    async def caller(n: int) -> None:
        nonlocal replies, failures
        for i in range(1_000_000):
            value = f"{n}:{i}:" + "x" * (i % 7 * 300)  # some calls span several packets
            try:
                reply = await pipe.execute("ECHO", value)
            except RedisConnectionError:
                failures += 1
                await asyncio.sleep(0.001)
                continue
            assert reply == value.encode(), f"caller {n} got {reply[:40]!r}"
            replies += 1

    callers = [asyncio.create_task(caller(n)) for n in range(60)]
    try:
        killed = await kill_clients(admin, random.Random(1), 40, lambda: replies, watch=callers)
        assert killed >= 40
        # the pipe serves every caller again after the last kill
        after = replies
        await wait_until(lambda: replies > after + 1000, "replies after the kills", watch=callers)
    finally:
        await stop_all(callers)
        await pipe.aclose()
        await pool.disconnect()
    assert failures > 0, "no call was in flight when its connection died: nothing was tested"


async def test_queue_loops_ride_out_connection_kills_and_replies_match_their_calls(
    own_server: RedisServer, admin: aioredis.Redis, queue_name: str
) -> None:
    """8 put loops, 6 consume() loops, a get_many loop and a Worker on one queue object
    while connections are killed every 30-120 ms: no exception escapes any loop, each
    get's jobs are locked in Redis under the token its Job carries, no first complete()
    finds its lock lost, no first put() of new content is called a duplicate, and every
    job put is done at the end."""
    queue = RedisJobQueue(queue_name, url=own_server.url)
    checker = aioredis.Redis.from_url(own_server.url, single_connection_client=True)
    LOCK = 5000  # ms: long enough for any job to be done under it, short to wait out
    put: set[str] = set()
    done: Counter[str] = Counter()
    wrong: list[str] = []
    stop_putting = asyncio.Event()

    async def finish(job: Job) -> None:
        failed = False
        while True:
            try:
                await job.complete()
            except RedisConnectionError:
                failed = True  # it may have run: a LockLostError next time is ours
                await asyncio.sleep(0.005)
                continue
            except LockLostError:
                if not failed:
                    wrong.append(f"the first complete of {job.id} found its lock lost")
            done[job.id] += 1
            return

    async def putter(p: int) -> None:
        n = 0
        while not stop_putting.is_set():
            payload = {"putter": p, "n": n}
            n += 1
            failed = False
            while True:
                try:
                    put.add(await queue.put(payload))
                except RedisConnectionError:
                    failed = True
                    await asyncio.sleep(0.005)
                    continue
                except DuplicateJobError as exc:
                    if not failed:
                        wrong.append(f"the first put of new content {payload} was refused")
                    put.add(exc.job_id)
                break

    async def consumer() -> None:
        async for job in queue.consume(lock_timeout=LOCK, min_interval=0.001):
            await finish(job)

    async def getter() -> None:
        while True:
            try:
                jobs = await queue.get_many(20, lock_timeout=LOCK)
            except RedisConnectionError:
                await asyncio.sleep(0.005)
                continue
            for job in jobs:
                state = await locked_as(job)
                if state != f"{job.deliveries}:{job.token}".encode():
                    wrong.append(f"{job!r} is locked in Redis as {state!r}")
            for job in jobs:
                await finish(job)
            await asyncio.sleep(0.002)

    async def locked_as(job: Job) -> Any:
        """The job's state in Redis ("DELIVERIES:TOKEN"), on a connection of its own."""
        while True:
            try:
                return await checker.hget(queue.keys.state, bytes.fromhex(job.id))
            except RedisConnectionError:  # killed too
                await asyncio.sleep(0.005)

    async def handler(job: Job) -> None:
        done[job.id] += 1

    worker = Worker(queue, handler, concurrency=10, lock_timeout=LOCK)
    loops = [asyncio.create_task(consumer()) for _ in range(6)]
    loops += [asyncio.create_task(getter()), asyncio.create_task(worker.run())]
    putters = [asyncio.create_task(putter(p)) for p in range(8)]
    try:
        killed = await kill_clients(admin, random.Random(2), 40, lambda: len(put), watch=loops)
        assert killed >= 40
        stop_putting.set()
        await asyncio.wait_for(asyncio.gather(*putters), PATIENCE)
        # a job whose get reply died with its connection comes back when its lock expires
        await wait_until(lambda: set(done) >= put, "every job to be done", watch=loops)
        assert wrong == []
    finally:
        stop_putting.set()
        worker.stop(grace=0)
        await stop_all(loops[:-1])
        await asyncio.wait_for(loops[-1], PATIENCE)  # Worker.run() returns
        await asyncio.wait_for(asyncio.gather(*putters, return_exceptions=True), PATIENCE)
        await queue.aclose()
        await checker.aclose()
    assert len(put) > 100


async def test_calls_cancelled_before_they_were_written_leave_nothing_behind(
    own_server: RedisServer,
) -> None:
    """Calls cancelled while the pipe connects are never sent and hold no place in the
    reply queue: the calls made with them and after them get their own replies."""
    pool = BlockingConnectionPool.from_url(own_server.url, max_connections=4, timeout=None)
    pipe = Pipe(pool)
    try:
        for round_ in range(5):
            calls = [asyncio.create_task(pipe.execute("ECHO", f"{round_}:{n}")) for n in range(40)]
            await asyncio.sleep(0)  # every call is waiting for the connection now
            for call in calls[::2]:
                call.cancel()
            results = await asyncio.gather(*calls, return_exceptions=True)
            for n, result in enumerate(results):
                if n % 2 == 0:
                    assert isinstance(result, asyncio.CancelledError)
                else:
                    assert result == f"{round_}:{n}".encode()
            after = await asyncio.gather(*(pipe.execute("ECHO", str(n)) for n in range(20)))
            assert after == [str(n).encode() for n in range(20)]
            await pipe.aclose()
            pipe = Pipe(pool)  # the next round connects again
    finally:
        await pipe.aclose()
        await pool.disconnect()


# -- finding 2: cancelling one large call -------------------------------------------


async def test_cancelling_a_large_put_many_while_it_is_written_fails_no_other_call(
    own_server: RedisServer, queue_name: str
) -> None:
    """Five 24 MB put_many calls cancelled while their bytes go out: the 20 put, get and
    complete loops on the same queue object never fail, and no job stays locked."""
    queue = RedisJobQueue(queue_name, url=own_server.url)
    errors: list[BaseException] = []
    done = 0

    stop = asyncio.Event()

    async def small_calls(w: int) -> None:
        nonlocal done
        n = 0
        while not stop.is_set():
            n += 1
            try:
                await queue.put({"w": w, "n": n})
                job = await queue.get(lock_timeout=60_000)
                if job is not None:
                    await job.complete()
                    done += 1
            except Exception as exc:
                errors.append(exc)
                raise

    loops = [asyncio.create_task(small_calls(w)) for w in range(20)]
    rng = random.Random(3)
    cancelled = 0
    try:
        # until five calls were cancelled before they ended (a call done before its cancel,
        # on a fast machine, counts for nothing)
        for round_ in range(50):
            big = [f"{round_}:{i}:" + "x" * 1_000_000 for i in range(24)]
            call = asyncio.create_task(queue.put_many(big))
            await asyncio.sleep(rng.uniform(0.001, 0.02))
            cancelled += call.cancel()
            await asyncio.gather(call, return_exceptions=True)
            goal = done + 20
            await wait_until(lambda g=goal: done > g, "the small calls to go on", watch=loops)
            if cancelled == 5:
                break
        assert cancelled == 5
    finally:
        stop.set()
        await asyncio.wait_for(asyncio.gather(*loops, return_exceptions=True), PATIENCE)
    assert errors == []
    assert (await queue.stats()).locked == 0  # each job a loop took it completed
    await queue.purge()
    await queue.aclose()


# -- findings 3 and 4: BUSY scripts and SCRIPT FLUSH -----------------------------------

# A foreign read-only script that keeps Redis busy until SCRIPT KILL (or 60 s).
BUSY_SCRIPT = """
local t = redis.call('TIME')
local stop = tonumber(t[1]) + 60
while tonumber(redis.call('TIME')[1]) < stop do end
return 1
"""


async def complete_when_redis_serves(job: Job) -> None:
    """complete() is a single call: it raises BUSY, as a user would see; retry it."""
    while True:
        try:
            await job.complete()
            return
        except ResponseError as exc:
            if not str(exc).startswith("BUSY"):
                raise
            await asyncio.sleep(0.01)


async def _is_busy(admin: aioredis.Redis) -> bool:
    try:
        await admin.ping()
    except ResponseError as exc:
        return "BUSY" in str(exc)
    return False


@pytest.mark.parametrize("hand_off", [False, True], ids=["polling", "hand-off"])
async def test_consume_and_the_worker_wait_out_a_busy_script(
    own_server: RedisServer,
    admin: aioredis.Redis,
    queue_name: str,
    caplog: pytest.LogCaptureFixture,
    hand_off: bool,
) -> None:
    """While a foreign script keeps Redis busy, consume() loops and a Worker wait (single
    calls raise BUSY); once it is killed they take every job put meanwhile. Idle loops
    that poll (a queue object of 3 connections has no hand-off inbox) meet BUSY; those
    served by the inbox wait in its blocking read, which Redis does not end during a
    script."""
    caplog.set_level(logging.WARNING, logger="aioredisjobqueue")
    await admin.config_set("busy-reply-threshold", 50)  # ms before BUSY replies start
    queue = RedisJobQueue(queue_name, url=own_server.url, max_connections=32 if hand_off else 3)
    seen: Counter[str] = Counter()

    async def consumer() -> None:
        async for job in queue.consume(lock_timeout=60_000, min_interval=0.005, max_interval=0.05):
            seen[job.id] += 1
            await complete_when_redis_serves(job)

    async def handler(job: Job) -> None:
        seen[job.id] += 1

    worker = Worker(queue, handler, concurrency=4, lock_timeout=60_000)
    loops = [asyncio.create_task(consumer()) for _ in range(6)]
    loops.append(asyncio.create_task(worker.run()))
    busy_client = aioredis.Redis.from_url(
        own_server.url, single_connection_client=True, socket_timeout=None
    )
    busy: asyncio.Task[Any] | None = None
    try:
        ids = [i for i in await queue.put_many(range(50)) if i is not None]
        await wait_until(lambda: set(seen) >= set(ids), "the first jobs", watch=loops)
        busy = asyncio.create_task(busy_client.eval(BUSY_SCRIPT, 0))
        if hand_off:
            await eventually(lambda: _is_busy(admin), "Redis to be busy", watch=loops)
        else:
            await wait_until(
                lambda: any("BUSY" in r.getMessage() for r in caplog.records) or busy.done(),
                "a loop to meet BUSY",
                watch=loops,
            )
        assert not busy.done()
        with pytest.raises(ResponseError, match="BUSY"):
            await queue.stats()
        await admin.script_kill()
        with pytest.raises(ResponseError, match="killed"):
            await busy
        more = [i for i in await queue.put_many(range(50, 150)) if i is not None]
        await wait_until(lambda: set(seen) >= set(more), "the jobs put after", watch=loops)
        assert sum(seen.values()) == 150
    finally:
        worker.stop(grace=0)
        await stop_all(loops[:-1])
        await asyncio.wait_for(loops[-1], PATIENCE)
        if busy is not None:
            busy.cancel()
            await asyncio.gather(busy, return_exceptions=True)
        await busy_client.aclose()
        await queue.aclose()


async def test_consume_and_the_worker_ride_out_script_flushes_every_2_ms(
    own_server: RedisServer, admin: aioredis.Redis, queue_name: str
) -> None:
    """SCRIPT FLUSH every 2 ms while 10 consume() loops and a Worker run and jobs are put:
    no loop ends, every job is done, and the scripts came back by EVAL."""
    queue = RedisJobQueue(queue_name, url=own_server.url)
    seen: Counter[str] = Counter()
    flushes = 0

    async def consumer() -> None:
        async for job in queue.consume(lock_timeout=60_000, min_interval=0.001, max_interval=0.01):
            seen[job.id] += 1
            await job.complete()

    async def handler(job: Job) -> None:
        seen[job.id] += 1

    stop_flushing = asyncio.Event()

    async def flusher() -> None:
        nonlocal flushes
        # stopped by an event, not cancelled: a redis-py client cancelled in a call can
        # hang its single connection
        while not stop_flushing.is_set():
            await admin.script_flush()
            flushes += 1
            await asyncio.sleep(0.002)

    worker = Worker(queue, handler, concurrency=4, lock_timeout=60_000)
    loops = [asyncio.create_task(consumer()) for _ in range(10)]
    loops.append(asyncio.create_task(worker.run()))
    flushing = asyncio.create_task(flusher())
    try:
        ids: list[str] = []
        for start in range(0, 600, 20):
            for n in range(start, start + 10):
                ids.append(await queue.put(n))
            ids += [i for i in await queue.put_many(range(start + 10, start + 20)) if i]
            # two flushes between batches, however fast the puts go
            mark = flushes
            await wait_until(lambda m=mark: flushes >= m + 2, "flushes", watch=[flushing])
        await wait_until(lambda: set(seen) >= set(ids), "every job", watch=[*loops, flushing])
        assert flushes >= 60
        assert sum(seen.values()) == 600
    finally:
        stop_flushing.set()
        await asyncio.wait_for(asyncio.gather(flushing, return_exceptions=True), PATIENCE)
        worker.stop(grace=0)
        await stop_all(loops[:-1])
        await asyncio.wait_for(loops[-1], PATIENCE)
        await queue.aclose()
    stats = await admin.info("commandstats")
    assert stats["cmdstat_eval"]["calls"] > 0, "no script was ever missing: nothing was tested"


# -- finding 5: a bad call among batched ones ----------------------------------------


async def test_a_get_many_too_large_fails_alone_before_reaching_redis(
    own_server: RedisServer, queue_name: str
) -> None:
    """get_many(10**20) raises ValueError at once, naming count, while 8 consume() loops
    share the queue object's get batches; none of them ends, and they take every job."""
    queue = RedisJobQueue(queue_name, url=own_server.url)
    seen: Counter[str] = Counter()

    async def consumer() -> None:
        async for job in queue.consume(lock_timeout=60_000, min_interval=0.001, max_interval=0.002):
            seen[job.id] += 1
            await job.complete()

    loops = [asyncio.create_task(consumer()) for _ in range(8)]
    try:
        for _ in range(50):
            with pytest.raises(ValueError, match=r"count must be <= 1000000, got 10{20}"):
                await queue.get_many(10**20)
            await asyncio.sleep(0.001)
        ids = [i for i in await queue.put_many(range(100)) if i]
        await wait_until(lambda: set(seen) >= set(ids), "every job", watch=loops)
    finally:
        await stop_all(loops)
        await queue.aclose()


# -- bulk calls in bounded script calls ----------------------------------------------


async def script_calls(admin: aioredis.Redis) -> int:
    stats = await admin.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


async def test_bulk_calls_are_split_into_bounded_script_calls(
    own_server: RedisServer, admin: aioredis.Redis, queue_name: str
) -> None:
    """put_many and get_many of 2,500 jobs run as 3 script calls of at most 1,000 jobs
    each, and a put_many of 10 payloads of 1 MB as 3 calls of at most 4 MiB; what they
    return is what one call would return."""
    async with RedisJobQueue(queue_name, url=own_server.url) as queue:
        await queue.put("load")  # the scripts are loaded, the connection made
        assert (await queue.get()) is not None
        before = await script_calls(admin)
        ids = await queue.put_many([*range(2500), 7])
        assert await script_calls(admin) - before == 3
        assert ids[-1] is None and None not in ids[:-1]
        assert [job.payload for job in await queue.get_many(10)] == list(range(10))

        before = await script_calls(admin)
        jobs = await queue.get_many(2500, lock_timeout=60_000)
        assert await script_calls(admin) - before == 3  # 1,000 + 1,000 + the last 490
        assert [job.payload for job in jobs] == list(range(10, 2500))

        before = await script_calls(admin)
        big = [f"{i}:" + "x" * 1_000_000 for i in range(10)]
        assert None not in await queue.put_many(big)
        assert await script_calls(admin) - before == 3
        assert [j.payload for j in await queue.get_many(20)] == big

        with pytest.raises(ValueError, match="count"):
            await queue.get_many(1_000_001)
        await queue.purge()


async def test_a_real_error_reply_ends_consume_with_that_error(
    own_server: RedisServer, admin: aioredis.Redis, queue_name: str
) -> None:
    """A key of the wrong type is no passing trouble: consume() raises WRONGTYPE at once
    instead of waiting it out."""
    async with RedisJobQueue(queue_name, url=own_server.url) as queue:
        await admin.set(queue.keys.waiting, "not a sorted set")
        with pytest.raises(ResponseError, match="WRONGTYPE"):
            async for _ in queue.consume(min_interval=0.001):
                pytest.fail("no job can come out")
        await admin.delete(queue.keys.waiting)
