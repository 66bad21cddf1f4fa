"""Redis that may evict keys: the queue warns once, and what an eviction leaves heals.

A server whose ``maxmemory-policy`` is not ``noeviction`` drops whole keys at its memory
limit. The queue cannot prevent that, but it says so, and a put of content whose job lost
its zset entry queues it again instead of calling it a duplicate for ever.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator

import pytest
import redis
from test_cli import cli

from aioredisjobqueue import LockLostError, QueueStats, RedisJobQueue, job_id
from aioredisjobqueue._codec import encode
from aioredisjobqueue._eviction import _find
from aioredisjobqueue.testing import RedisServer


@pytest.fixture(scope="module")
def evicting_server() -> Iterator[RedisServer]:
    """A redis-server of this module's own with ``maxmemory-policy allkeys-lru``, and users
    that may not run CONFIG (``noconfig``) or neither CONFIG nor INFO (``blind``)."""
    with RedisServer() as server:
        admin = redis.Redis(port=server.port)
        admin.config_set("maxmemory-policy", "allkeys-lru")
        for user, denied in [("noconfig", ["-config"]), ("blind", ["-config", "-info"])]:
            admin.acl_setuser(
                user,
                enabled=True,
                passwords=["+pw"],
                keys=["*"],
                channels=["*"],
                commands=["+@all", *denied],
            )
        admin.close()
        yield server


def _url(server: RedisServer, user: str | None = None) -> str:
    return server.url if user is None else f"redis://{user}:pw@127.0.0.1:{server.port}/0"


def _warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "aioredisjobqueue" and "maxmemory-policy" in r.getMessage()
    ]


# -- the warning -------------------------------------------------------------------------


@pytest.mark.parametrize("user", [None, "noconfig"])
async def test_a_queue_warns_once_when_redis_may_evict_its_jobs(
    evicting_server: RedisServer,
    queue_name: str,
    user: str | None,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.WARNING, "aioredisjobqueue")
    async with RedisJobQueue(queue_name, url=_url(evicting_server, user)) as queue:
        await queue.put("a")
        await queue.put_many(["b", "c"])
        assert len(await queue.get_many(3)) == 3
        assert await queue.get() is None
    (message,) = _warnings(caplog)
    assert "maxmemory-policy allkeys-lru" in message
    assert repr(queue_name) in message
    assert "can be lost" in message

    async with RedisJobQueue(queue_name, url=_url(evicting_server, user)) as other:
        await other.get()
    assert len(_warnings(caplog)) == 2  # once per queue object


async def test_a_server_that_will_not_say_gets_no_warning(
    evicting_server: RedisServer, queue_name: str, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "aioredisjobqueue")
    async with RedisJobQueue(queue_name, url=_url(evicting_server, "blind")) as queue:
        await queue.put("a")
        job = await queue.get()
        assert job is not None
        await job.complete()
    assert _warnings(caplog) == []


async def test_no_warning_when_redis_never_evicts(
    real_queue: RedisJobQueue, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, "aioredisjobqueue")
    assert await real_queue.redis.config_get("maxmemory-policy") == {
        "maxmemory-policy": "noeviction"
    }
    await real_queue.put("a")
    assert await real_queue.get() is not None
    assert _warnings(caplog) == []


def test_the_command_line_warns_in_one_line(evicting_server: RedisServer, queue_name: str) -> None:
    result = cli("put", queue_name, '{"n": 1}', url=evicting_server.url)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == job_id({"n": 1})
    (line,) = result.stderr.splitlines()
    assert line.startswith("Warning: Redis has maxmemory-policy allkeys-lru")


@pytest.mark.parametrize(
    ("reply", "name", "policy"),
    [
        ({"maxmemory-policy": "allkeys-lru"}, "maxmemory-policy", "allkeys-lru"),
        ([b"maxmemory-policy", b"noeviction"], "maxmemory-policy", "noeviction"),
        (
            b"# Memory\r\nused_memory:1\r\nmaxmemory_policy:volatile-ttl\r\n",
            "maxmemory_policy",
            "volatile-ttl",
        ),
        (
            {"a:1": {"maxmemory_policy": "noeviction"}, "b:2": {"maxmemory_policy": "allkeys-lfu"}},
            "maxmemory_policy",
            "allkeys-lfu",
        ),
        ({"a:1": {"maxmemory_policy": "noeviction"}}, "maxmemory_policy", "noeviction"),
        ({}, "maxmemory-policy", None),
        (None, "maxmemory-policy", None),
    ],
)
def test_the_policy_is_read_from_each_form_of_reply(
    reply: object, name: str, policy: str | None
) -> None:
    assert _find(reply, name) == policy


# -- healing what an eviction leaves -------------------------------------------------------


async def _drop_ready_entry(queue: RedisJobQueue, job: str) -> None:
    """Remove the entry of ``job`` (id and time) from the ready list, as if it were lost."""
    index = await queue.redis.lpos(queue.keys.ready, bytes.fromhex(job))
    assert index is not None and index % 2 == 0
    await queue.redis.lset(queue.keys.ready, index + 1, b"gone")
    assert await queue.redis.lrem(queue.keys.ready, 1, bytes.fromhex(job)) == 1
    assert await queue.redis.lrem(queue.keys.ready, 1, b"gone") == 1


async def test_a_put_queues_again_a_job_whose_ready_entry_is_gone(
    real_queue: RedisJobQueue,
) -> None:
    first = await real_queue.put({"task": "lost"})
    await real_queue.put({"task": "kept"})
    # as if evicted: the payload stays, the entry in the ready list is gone
    await _drop_ready_entry(real_queue, first)
    assert (await real_queue.stats()).total == 1

    assert await real_queue.put({"task": "lost"}) == first
    assert (await real_queue.stats()).ready == 2
    assert await real_queue.put_many([{"task": "lost"}, {"task": "kept"}]) == [None, None]
    jobs = await real_queue.get_many(10)
    assert sorted(j.payload["task"] for j in jobs) == ["kept", "lost"]
    assert {j.deliveries for j in jobs} == {1}
    for job in jobs:
        await job.complete()
    assert (await real_queue.stats()).total == 0


async def test_a_put_queues_again_a_delayed_job_whose_zset_entry_is_gone(
    real_queue: RedisJobQueue,
) -> None:
    first = await real_queue.put({"task": "lost"}, delay=60)
    # as if evicted: the payload stays, the entry in the waiting zset is gone
    assert await real_queue.redis.zrem(real_queue.keys.waiting, bytes.fromhex(first)) == 1
    assert (await real_queue.stats()).total == 0

    assert await real_queue.put({"task": "lost"}) == first
    assert await real_queue.put_many([{"task": "lost"}]) == [None]
    job = await real_queue.get()
    assert job is not None and job.payload == {"task": "lost"} and job.deliveries == 1


async def test_jobs_heal_after_whole_zsets_are_evicted(real_queue: RedisJobQueue) -> None:
    ids = await real_queue.put_many([1, 2, 3])
    held = await real_queue.get(lock_timeout=60_000)
    assert held is not None
    # as an eviction does it: whole keys go, here the ready list and both zsets; payloads
    # and states stay
    keys = real_queue.keys
    await real_queue.redis.delete(keys.ready, keys.waiting, keys.locked)
    assert (await real_queue.stats()).total == 0

    assert await real_queue.put_many([1, 2, 3]) == ids
    with pytest.raises(LockLostError):  # the job queued again is not the one it held
        await held.complete()
    jobs = await real_queue.get_many(10)
    assert sorted(j.payload for j in jobs) == [1, 2, 3]
    assert {j.deliveries for j in jobs} == {1}
    for job in jobs:
        await job.complete()
    assert (await real_queue.redis.hlen(real_queue.keys.payloads)) == 0


async def test_a_dead_letter_in_its_zset_stays_a_duplicate(
    redis_server: RedisServer, queue_name: str
) -> None:
    async with RedisJobQueue(queue_name, url=redis_server.url, max_deliveries=1) as queue:
        await queue.put("x")
        job = await queue.get()
        assert job is not None
        await job.release()
        assert await queue.put_many(["x"]) == [None]
        assert (await queue.stats()).dead == 1


async def test_listings_leave_out_jobs_whose_payloads_were_evicted(
    redis_server: RedisServer, queue_name: str
) -> None:
    async with RedisJobQueue(queue_name, url=redis_server.url, max_deliveries=1) as queue:
        await queue.put_many(["dead", "waiting"])
        job = await queue.get()
        assert job is not None and job.payload == "dead"
        await job.release()
        assert [d.payload for d in await queue.dead_letters()] == ["dead"]
        await queue.redis.delete(queue.keys.payloads)  # as an eviction does it

        assert await queue.dead_letters() == []
        assert await queue.peek() == []
        assert await queue.get() is None
        assert await queue.put("waiting")  # and the job can be queued again
        assert [w.payload for w in await queue.peek()] == ["waiting"]


async def test_a_put_after_payloads_were_evicted_starts_the_job_anew(
    redis_server: RedisServer, queue_name: str
) -> None:
    async with RedisJobQueue(queue_name, url=redis_server.url, max_deliveries=1) as queue:
        await queue.put_many(["dead", "held"])
        dead = await queue.get()
        assert dead is not None and dead.payload == "dead"
        await dead.release(error="it failed")
        held = await queue.get(lock_timeout=60_000)
        assert held is not None and held.payload == "held"
        await queue.redis.delete(queue.keys.payloads)  # as an eviction does it

        assert await queue.put_many(["dead", "held"]) == [dead.id, held.id]
        assert await queue.stats() == QueueStats(ready=2, locked=0, delayed=0, dead=0)
        assert not await queue.redis.hexists(queue.keys.errors, bytes.fromhex(dead.id))
        with pytest.raises(LockLostError):
            await held.complete()
        jobs = await queue.get_many(10)
        assert sorted((j.payload, j.deliveries) for j in jobs) == [("dead", 1), ("held", 1)]


async def test_a_periodic_tick_heals_its_job_as_a_put_does(real_queue: RedisJobQueue) -> None:
    # tick.lua queues through the same prelude function as put.lua
    job = await real_queue.put({"periodic": "nightly"})
    await _drop_ready_entry(real_queue, job)
    text = encode({"periodic": "nightly"})
    assert await real_queue._scripts.tick("nightly", 1, job, text) == 1
    assert [w.id for w in await real_queue.peek()] == [job]
    assert await real_queue._scripts.tick("nightly", 2, job, text) == 2  # queued: a duplicate
