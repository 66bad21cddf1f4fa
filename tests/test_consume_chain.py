"""consume(): completing the job a loop has out takes its next job in the same round trip,
and a job taken so is never lost, run twice, or left locked when the loop goes away."""

from __future__ import annotations

import asyncio

import redis.asyncio as aioredis
from conftest import MakeQueue
from helpers import eventually

from aioredisjobqueue import Job, RedisJobQueue

LONG_LOCK = 60_000


async def _script_calls(r: aioredis.Redis) -> int:
    stats = await r.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


async def test_a_loop_that_completes_its_job_gets_the_next_without_another_call(
    real_queue: RedisJobQueue,
) -> None:
    await real_queue.put_many(range(5))
    admin = real_queue.redis
    calls_between: list[int] = []
    seen: list[int] = []
    completed_at: int | None = None
    async for job in real_queue.consume(lock_timeout=LONG_LOCK):
        if completed_at is not None:
            calls_between.append(await _script_calls(admin) - completed_at)
        seen.append(job.payload)
        await job.complete()
        completed_at = await _script_calls(admin)
        if len(seen) == 5:
            break
    assert sorted(seen) == [0, 1, 2, 3, 4]
    # each next job came with the completion before it: no script call in between
    assert calls_between == [0, 0, 0, 0]
    assert (await real_queue.stats()).total == 0


async def test_a_job_taken_with_the_last_completion_comes_back_at_once_when_the_loop_ends(
    make_real_queue: MakeQueue,
) -> None:
    queue, other = make_real_queue(), make_real_queue()
    await queue.put_many(["first", "second"])
    async for job in queue.consume(lock_timeout=LONG_LOCK):
        assert job.payload == "first"
        await job.complete()  # takes "second" for the loop, which ends here
        break

    # given back uncounted, due now (not after its 60 s lock)
    async def second_is_due() -> Job | None:
        return await other.get(lock_timeout=LONG_LOCK)

    found = await eventually(second_is_due, "the job taken for the loop to come back")
    assert (found.payload, found.deliveries) == ("second", 1)
    await found.complete()


async def test_a_job_taken_for_a_loop_that_comes_back_late_is_not_handed_out_after_its_lock(
    make_real_queue: MakeQueue,
) -> None:
    queue, rival = make_real_queue(), make_real_queue()
    await queue.put_many(["first", "second"])
    lock_ms = 300
    got: list[str] = []
    rival_has_it = asyncio.Event()

    async def consume() -> None:
        async for job in queue.consume(lock_timeout=lock_ms, max_interval=0.05):
            got.append(job.payload)
            if job.payload == "first":
                await job.complete()  # takes "second" for the loop, locked 300 ms
                await rival_has_it.wait()  # the loop's body goes on past that lock
            else:
                await job.complete()

    task = asyncio.create_task(consume())
    try:

        async def rival_takes_second() -> Job | None:
            return await rival.get(lock_timeout=LONG_LOCK)

        taken = await eventually(rival_takes_second, "the rival to take the expired job")
        assert taken.payload == "second"
        rival_has_it.set()
        await rival.put("third")
        await eventually(lambda: "third" in got, "the loop to go on", watch=[task])
        # the loop never ran "second", which its lock no longer held for it
        assert got == ["first", "third"]
        await taken.complete()
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_job_taken_for_a_loop_cancelled_while_completing_comes_back_at_once(
    make_real_queue: MakeQueue,
) -> None:
    queue, other = make_real_queue(), make_real_queue()
    await queue.put_many(["first", "second"])
    completing = asyncio.Event()

    async def consume() -> None:
        async for job in queue.consume(lock_timeout=LONG_LOCK):
            completing.set()
            await job.complete()  # written at once; its task is cancelled before the reply

    task = asyncio.create_task(consume())
    await completing.wait()
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    assert task.cancelled()

    # the job taken with that completion is given back uncounted, due now (not in 60 s)
    async def second_is_due() -> Job | None:
        return await other.get(lock_timeout=LONG_LOCK)

    found = await eventually(second_is_due, "the job taken for the cancelled loop")
    assert (found.payload, found.deliveries) == ("second", 1)
    await found.complete()
