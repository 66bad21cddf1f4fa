"""queue.delete_dead(): dead letters removed for good, on a real redis-server and fakeredis."""

from __future__ import annotations

import pytest
from conftest import MakeQueue

from aioredisjobqueue import RedisJobQueue


async def kill(queue: RedisJobQueue, *payloads: object) -> list[str]:
    """Put ``payloads`` and dead-letter them (the queue has max_deliveries=1)."""
    ids = [await queue.put(p) for p in payloads]
    for _ in payloads:
        job = await queue.get()
        assert job is not None
        await job.release(error="RuntimeError: down")
    assert (await queue.stats()).dead == len(payloads)
    return ids


async def test_delete_dead_removes_the_chosen_dead_letters_for_good(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=1)
    first, second = await kill(queue, "first", "second")
    await queue.put("alive")
    assert await queue.delete_dead([first]) == 1
    assert [d.id for d in await queue.dead_letters()] == [second]
    assert (await queue.stats()).ready == 1
    # gone for good, its error too: the same content can be put again, as a fresh job
    assert await queue.status(first) is None
    assert await queue.put("first") == first
    status = await queue.status(first)
    assert status is not None and (status.state, status.last_error) == ("waiting", None)
    job = await queue.get()
    assert job is not None and job.payload == "alive"


async def test_delete_dead_without_ids_removes_every_dead_letter(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=1)
    await kill(queue, 1, 2, 3)
    await queue.put("waiting")
    assert await queue.delete_dead() == 3
    stats = await queue.stats()
    assert (stats.dead, stats.ready, stats.total) == (0, 1, 1)


async def test_delete_dead_skips_jobs_that_are_no_dead_letter(make_queue: MakeQueue) -> None:
    queue = make_queue(max_deliveries=1)
    waiting = await queue.put("waiting")
    assert await queue.delete_dead([waiting, "00" * 12]) == 0
    assert await queue.delete_dead([]) == 0
    assert (await queue.stats()).ready == 1


async def test_delete_dead_refuses_a_bad_id_before_redis(make_queue: MakeQueue) -> None:
    queue = make_queue()
    with pytest.raises(ValueError, match=r"job_ids\[1\] must be a job id .* got 'nope'"):
        await queue.delete_dead(["00" * 12, "nope"])
