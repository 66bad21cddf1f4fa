"""A get cancelled while it is in flight on the queue's own connection gives its jobs back
at once, uncounted: they do not wait for their locks to expire."""

from __future__ import annotations

import asyncio
from collections import Counter

from helpers import eventually

from aioredisjobqueue import QueueStats, RedisJobQueue


async def test_get_cancelled_in_flight_gives_its_jobs_back_at_once(
    real_queue: RedisJobQueue,
) -> None:
    await real_queue.put_many(range(200))
    first = await real_queue.get(lock_timeout=600_000)  # the script is loaded from here on
    assert first is not None
    await first.release()
    released = Counter([first.id])
    cancelled = 0
    for _ in range(200):
        # the get goes out at once (nothing else in flight), then is cancelled before its
        # reply can reach it: the script has run and locked jobs for nobody
        task = asyncio.create_task(real_queue.get_many(5, lock_timeout=600_000))
        await asyncio.sleep(0)
        if task.cancel():
            cancelled += 1
        try:
            jobs = await task
        except asyncio.CancelledError:
            continue
        for job in jobs:
            await job.release()
            released[job.id] += 1

    async def handed_back() -> bool:
        return (await real_queue.stats()).locked == 0

    await eventually(handed_back, "the hand-backs to run")
    assert cancelled > 100
    assert await real_queue.stats() == QueueStats(ready=200, locked=0, delayed=0, dead=0)
    # handing back took the deliveries back too: only the releases count
    jobs = await real_queue.get_many(200, lock_timeout=1000)
    assert len(jobs) == 200
    assert all(job.deliveries == 1 + released[job.id] for job in jobs)
