"""Only the token a job is locked under can complete, extend or release it.

A job that is not locked (waiting after a release, or dead-lettered) keeps an empty token in
its state: a ``Job`` with an empty token, or any token but the holder's, must not touch it.
"""

from __future__ import annotations

import pytest

from aioredisjobqueue import Job, LockLostError, RedisJobQueue
from aioredisjobqueue.testing import RedisServer


async def _forge(queue: RedisJobQueue, token: str) -> Job:
    """A Job for the queue's only job, under ``token`` instead of the one it was given."""
    job = await queue.get(lock_timeout=60_000)
    assert job is not None
    return Job(queue, job.id, job.payload, job.deliveries, token)


async def _refused(job: Job) -> None:
    for action in (job.complete, lambda: job.extend(60_000), job.release):
        with pytest.raises(LockLostError):
            await action()


@pytest.mark.parametrize("token", ["", "not-the-holder"])
async def test_a_foreign_token_cannot_touch_a_released_job(
    real_queue: RedisJobQueue, token: str
) -> None:
    await real_queue.put({"task": 1})
    held = await real_queue.get(lock_timeout=60_000)
    assert held is not None
    await held.release()
    forged = Job(real_queue, held.id, held.payload, held.deliveries, token)

    await _refused(forged)

    waiting = await real_queue.peek()
    assert [(w.id, w.payload) for w in waiting] == [(held.id, {"task": 1})]
    again = await real_queue.get()
    assert again is not None and again.id == held.id and again.deliveries == 2
    await again.complete()
    assert (await real_queue.stats()).total == 0


@pytest.mark.parametrize("token", ["", "not-the-holder"])
async def test_a_foreign_token_cannot_touch_a_dead_letter(
    redis_server: RedisServer, queue_name: str, token: str
) -> None:
    async with RedisJobQueue(queue_name, url=redis_server.url, max_deliveries=1) as queue:
        await queue.put({"task": 2})
        held = await queue.get(lock_timeout=60_000)
        assert held is not None
        await held.release()  # its one delivery is spent: it dies
        forged = Job(queue, held.id, held.payload, held.deliveries, token)

        await _refused(forged)

        letters = await queue.dead_letters()
        assert [(d.id, d.payload, d.deliveries) for d in letters] == [(held.id, {"task": 2}, 1)]
        assert (await queue.stats()).dead == 1
        assert await queue.requeue_dead() == 1
        assert [w.payload for w in await queue.peek()] == [{"task": 2}]


async def test_a_token_that_once_held_the_job_cannot_touch_it_after_a_release(
    real_queue: RedisJobQueue,
) -> None:
    await real_queue.put("job")
    held = await real_queue.get(lock_timeout=60_000)
    assert held is not None
    await held.release()

    await _refused(held)

    assert [w.payload for w in await real_queue.peek()] == ["job"]
