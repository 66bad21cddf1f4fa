"""One job by its id: status through every state, cancel, last errors, dead_letter, keys."""

from __future__ import annotations

import asyncio
import time

import pytest
from conftest import MakeQueue
from deployments import every_deployment
from helpers import PATIENCE, eventually

from aioredisjobqueue import (
    DoNotRetry,
    DuplicateJobError,
    Job,
    JobEvent,
    JobStatus,
    LockLostError,
    RedisJobQueue,
    Worker,
    job_id,
)

# the contract: every test here runs on one node, fakeredis, a Redis Cluster and Sentinel
backend = every_deployment


async def take(queue: RedisJobQueue, lock_timeout: float = 60_000) -> Job:
    job = await queue.get(lock_timeout=lock_timeout)
    assert job is not None
    return job


async def test_status_through_every_state(queue: RedisJobQueue) -> None:
    later = await queue.put("later", delay=3600)
    delayed = await queue.status(later)
    assert delayed is not None
    assert (delayed.state, delayed.deliveries, delayed.last_error) == ("delayed", 0, None)
    assert delayed.due_at is not None and delayed.due_at > time.time() + 3000
    assert delayed.lock_expires_at is None

    now = await queue.put("now")
    waiting = await queue.status(now)
    assert waiting is not None and (waiting.state, waiting.deliveries) == ("waiting", 0)
    assert waiting.due_at is None  # in the ready list: status() does not scan it

    job = await take(queue)
    locked = await queue.status(now)
    assert locked is not None and (locked.state, locked.deliveries) == ("locked", 1)
    assert locked.lock_expires_at is not None and locked.lock_expires_at > time.time() + 30
    assert locked.due_at is None

    await job.release(error="ValueError: no such address")
    retried = await queue.status(now)
    assert retried == JobStatus(
        id=now,
        state="waiting",
        deliveries=1,
        last_error="ValueError: no such address",
        due_at=retried.due_at if retried else None,
    )

    job = await take(queue)
    await job.dead_letter(error="PermissionError: refused")
    dead = await queue.status(now)
    assert dead is not None and (dead.state, dead.deliveries) == ("dead", 2)
    assert dead.last_error == "PermissionError: refused" and dead.died_at is not None

    assert await queue.requeue_dead([now]) == 1
    job = await take(queue)
    await job.complete(result={"sent": True})
    completed = await queue.status(now)
    assert completed is not None
    assert (completed.state, completed.deliveries, completed.last_error) == ("completed", 1, None)
    assert completed.completed_at is not None and abs(completed.completed_at - time.time()) < 60

    assert await queue.status(job_id("never put")) is None


async def test_a_job_completed_without_a_result_is_unknown(queue: RedisJobQueue) -> None:
    put = await queue.put("x")
    await (await take(queue)).complete()
    assert await queue.status(put) is None


async def test_a_lock_that_expired_shows_as_waiting(queue: RedisJobQueue) -> None:
    put = await queue.put("x")
    await take(queue, lock_timeout=50)

    async def expired() -> bool:
        status = await queue.status(put)
        assert status is not None
        return status.state == "waiting"

    await eventually(expired, "the lock to expire")
    status = await queue.status(put)
    assert status is not None and status.deliveries == 1 and status.due_at is not None


@pytest.mark.parametrize("where", ["waiting", "delayed", "dead"])
async def test_cancel_removes_a_job_at_once(make_queue: MakeQueue, where: str) -> None:
    queue = make_queue(max_deliveries=1)
    put = await queue.put({"n": 1}, delay=3600 if where == "delayed" else 0)
    if where == "dead":
        await (await take(queue)).release(error="boom")
        assert len(await queue.dead_letters()) == 1
    status = await queue.status(put)
    assert status is not None and status.state == where

    assert await queue.cancel(put) is True
    assert await queue.status(put) is None
    assert (await queue.stats()).total == 0
    assert await queue.redis.hlen(queue.keys.errors) == 0  # its error went with it
    assert await queue.cancel(put) is False  # nothing left to cancel
    assert await queue.put({"n": 1}) == put  # the same content may be put again


async def test_cancel_revokes_a_locked_job(queue: RedisJobQueue) -> None:
    put = await queue.put("running")
    job = await take(queue)
    assert await queue.cancel(put) is True
    assert await queue.status(put) is None
    for action in (job.extend(1000), job.release(), job.complete(), job.dead_letter()):
        with pytest.raises(LockLostError):
            await action
    assert (await queue.stats()).total == 0


async def test_last_errors_on_retries_and_in_the_dead_letters(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=3)
    put = await queue.put({"to": "nobody"})
    await (await take(queue)).release(error="ConnectionError: first")
    await (await take(queue)).release()  # no error given: the last one stays
    status = await queue.status(put)
    assert status is not None and status.last_error == "ConnectionError: first"

    await (await take(queue)).release(error="TimeoutError: third")  # the 3rd: dead
    (letter,) = await queue.dead_letters()
    assert (letter.id, letter.deliveries, letter.error) == (put, 3, "TimeoutError: third")


async def test_a_long_error_is_cut_with_a_marker(queue: RedisJobQueue) -> None:
    put = await queue.put("x")
    await (await take(queue)).release(error="E" * 10_000)
    status = await queue.status(put)
    assert status is not None and status.last_error is not None
    assert len(status.last_error) == 2000
    kept = status.last_error.rstrip("]").split("... [")[0]
    assert kept == "E" * len(kept)
    assert status.last_error.endswith(f"... [{10_000 - len(kept)} more characters cut]")


async def test_completing_a_job_removes_its_error(queue: RedisJobQueue) -> None:
    put = await queue.put("x")
    await (await take(queue)).release(error="boom")
    await (await take(queue)).complete()
    assert not await queue.redis.hexists(queue.keys.errors, bytes.fromhex(put))


async def test_purge_removes_errors_too(queue: RedisJobQueue) -> None:
    await queue.put("x")
    await (await take(queue)).release(error="boom")
    assert await queue.purge() == 1
    assert await queue.redis.exists(queue.keys.errors) == 0


async def test_dead_letter_moves_a_held_job_at_once(queue: RedisJobQueue) -> None:
    put = await queue.put("poison")
    job = await take(queue)
    await job.dead_letter(error="ValueError: cannot parse")
    (letter,) = await queue.dead_letters()
    assert (letter.id, letter.deliveries, letter.error) == (put, 1, "ValueError: cannot parse")
    assert await queue.get() is None
    with pytest.raises(LockLostError):
        await job.dead_letter()  # it holds nothing any more


async def test_a_chosen_key_is_the_identity(queue: RedisJobQueue) -> None:
    first = await queue.put({"to": "a@b.c"}, key="request-1")
    assert first == job_id({"to": "a@b.c"}, key="request-1") == job_id("other", key="request-1")
    assert first != job_id({"to": "a@b.c"})
    with pytest.raises(DuplicateJobError) as caught:
        await queue.put({"to": "someone else"}, key="request-1")  # the key is queued
    assert caught.value.job_id == first
    # the content alone is another job
    assert await queue.put({"to": "a@b.c"}) == job_id({"to": "a@b.c"})

    status = await queue.status(first)
    assert status is not None and status.state == "waiting"
    job = await take(queue)
    assert (job.id, job.payload) == (first, {"to": "a@b.c"})
    assert await queue.cancel(first) is True
    assert await queue.status(first) is None
    assert await queue.put({"to": "x"}, key="request-1") == first  # free again


async def test_put_many_with_keys(queue: RedisJobQueue) -> None:
    ids = await queue.put_many(["a", "a", "b", "c"], keys=["k1", "k2", None, "k1"])
    assert ids == [job_id("a", key="k1"), job_id("a", key="k2"), job_id("b"), None]
    with pytest.raises(ValueError, match="keys must have one key"):
        await queue.put_many(["a", "b"], keys=["k"])


async def test_bad_input_raises_before_redis(queue: RedisJobQueue) -> None:
    with pytest.raises(ValueError, match="job_id must be a job id"):
        await queue.status("nope")
    with pytest.raises(ValueError, match="job_id must be a job id"):
        await queue.cancel("nope")
    with pytest.raises(TypeError, match="key must be a str, got 5"):
        await queue.put("x", key=5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="key must be 1 to 1000 characters, got ''"):
        await queue.put("x", key="")
    with pytest.raises(TypeError, match=r"keys\[1\] must be a str"):
        await queue.put_many(["x", "y"], keys=["a", b"b"])  # type: ignore[list-item]
    assert await queue.redis.exists(*queue.keys.all()) == 0
    await queue.put("x")
    job = await take(queue)
    with pytest.raises(TypeError, match="error must be a str or None, got 5"):
        await job.release(error=5)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="error must be a str or None"):
        await job.dead_letter(error=ValueError("x"))  # type: ignore[arg-type]
    status = await queue.status(job.id)
    assert status is not None and status.state == "locked"  # untouched


async def test_cancel_of_a_running_job_cancels_its_worker_handler(
    real_queue: RedisJobQueue,
) -> None:
    started, cancelled = asyncio.Event(), asyncio.Event()
    renewals: list[str] = []  # each lock renewal of the worker: "held" or "lost"
    extend = real_queue.extend

    async def renewal(job: Job, *, lock_timeout: float) -> None:
        try:
            await extend(job, lock_timeout=lock_timeout)
        except LockLostError:
            renewals.append("lost")
            raise
        renewals.append("held")

    real_queue.extend = renewal  # type: ignore[method-assign]

    async def handler(job: Job) -> None:
        started.set()
        try:
            await asyncio.sleep(3600)
        except asyncio.CancelledError:
            renewals.append("handler cancelled")
            cancelled.set()
            raise

    events: list[JobEvent] = []
    lock_ms = 600  # renewed about every 200-300 ms
    worker = Worker(real_queue, handler, lock_timeout=lock_ms, on_event=events.append)
    put = await real_queue.put("run forever")
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(worker.run())
        await asyncio.wait_for(started.wait(), PATIENCE)
        await eventually(lambda: "held" in renewals, "a first renewal")
        asked, before = time.monotonic(), len(renewals)
        assert await real_queue.cancel(put) is True
        await asyncio.wait_for(cancelled.wait(), PATIENCE)
        took = time.monotonic() - asked
        worker.stop()
        await run
    # cancelled by the first renewal after the cancel (one in flight then may have held)
    after = renewals[before:]
    assert after in (["lost", "handler cancelled"], ["held", "lost", "handler cancelled"])
    assert took < 10 * lock_ms / 1000, took  # not when its lock expires: it never would
    assert [e.kind for e in events] == ["start", "lock_lost"]
    assert await real_queue.status(put) is None
    assert (await real_queue.stats()).total == 0


async def test_a_worker_keeps_the_last_error_of_retries_and_dead_letters(
    real_queue: RedisJobQueue,
) -> None:
    async def handler(job: Job) -> None:
        if job.payload == "never":
            raise DoNotRetry(f"cannot parse {job.payload!r}")
        raise ValueError(f"bad address on delivery {job.deliveries}")

    events: list[JobEvent] = []
    worker = Worker(real_queue, handler, max_deliveries=2, retry_delay=0, on_event=events.append)
    retried, never = await real_queue.put("retried"), await real_queue.put("never")
    async with asyncio.TaskGroup() as tasks:
        run = tasks.create_task(worker.run())
        await eventually(lambda: len([e for e in events if e.kind == "dead"]) == 2, "2 deaths")
        worker.stop()
        await run
    letters = {d.id: d for d in await real_queue.dead_letters()}
    assert letters[retried].deliveries == 2
    assert letters[retried].error is not None
    assert "ValueError: bad address on delivery 2" in letters[retried].error
    assert letters[never].deliveries == 1
    assert letters[never].error is not None and "cannot parse 'never'" in letters[never].error
    status = await real_queue.status(retried)
    assert status is not None and status.last_error == letters[retried].error
