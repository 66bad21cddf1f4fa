"""A sharded queue (``RedisJobQueue(name, shards=N)``): one logical queue over N shards, on
one node, on fakeredis and on the session's real 3-master Redis Cluster."""

from __future__ import annotations

import asyncio
import itertools
from collections import Counter
from typing import Any

import pytest
import redis.asyncio as aioredis
from conftest import MakeQueue
from helpers import PATIENCE, eventually

from aioredisjobqueue import (
    DoNotRetry,
    DuplicateJobError,
    Job,
    JobStatus,
    RedisJobQueue,
    ShardsMismatchError,
    Worker,
    job_id,
)
from aioredisjobqueue._inspect import queue_names
from aioredisjobqueue._keys import SLOTS, key_slot
from aioredisjobqueue.testing import RedisClusterServer, RedisServer


@pytest.fixture(params=["redis", "fakeredis", "cluster"])
def backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


def shard_of(payload: Any, shards: int) -> int:
    return int(job_id(payload), 16) % shards


def payloads_on(shard: int, shards: int, count: int, tag: str = "") -> list[dict[str, Any]]:
    """``count`` payloads whose jobs go to ``shard`` of ``shards``."""
    found = ({"n": n, "t": tag} for n in itertools.count())
    return list(itertools.islice((p for p in found if shard_of(p, shards) == shard), count))


async def evalsha_calls(client: Any) -> int:
    stats = await client.info("commandstats")
    return int(stats.get("cmdstat_evalsha", {}).get("calls", 0))


async def jobs_by_shard(queue: RedisJobQueue) -> list[set[str]]:
    """The ids of the jobs in each shard, read from each shard's own payloads hash."""
    return [
        {bytes(k).hex() for k in await queue.redis.hkeys(keys.payloads)}
        for keys in queue.shard_keys
    ]


# -- one shard is today's queue ------------------------------------------------------


async def test_one_shard_keeps_the_unsharded_keys(real_queue: RedisJobQueue) -> None:
    name = real_queue.name
    assert real_queue.shards == 1
    assert real_queue.shard_keys == (real_queue.keys,)
    assert real_queue.keys.waiting == f"ajq:{{{name}}}:waiting"
    await real_queue.put({"a": 1})
    keys = sorted([k.decode() async for k in real_queue.redis.scan_iter(match=f"ajq:*{name}*")])
    assert keys == [f"ajq:{{{name}}}:{k}" for k in ("payloads", "queue", "ready")]


# -- routing by id ---------------------------------------------------------------------


async def test_equal_content_is_one_job_across_shards(make_queue: MakeQueue) -> None:
    queue, other = make_queue(shards=4), make_queue(shards=4)
    first = await queue.put({"order": 7})
    with pytest.raises(DuplicateJobError) as raised:
        await other.put({"order": 7})
    assert raised.value.job_id == first
    ids = await other.put_many([{"order": n} for n in range(8)] + [{"order": 3}])
    assert ids[7] is None and ids[8] is None  # {"order": 7} queued before; 3 twice
    assert sum(i is not None for i in ids) == 7
    assert (await queue.stats()).ready == 8
    assert sum(len(ids) for ids in await jobs_by_shard(queue)) == 8


async def test_put_many_splits_jobs_by_id_one_script_call_per_shard(
    make_real_queue: MakeQueue,
) -> None:
    queue = make_real_queue(shards=4)
    await queue.put("first")  # the queue's first use claims its shards
    before = await evalsha_calls(queue.redis)
    ids = await queue.put_many({"n": n} for n in range(400))
    assert await evalsha_calls(queue.redis) - before == 4
    by_shard = await jobs_by_shard(queue)
    for index, shard_ids in enumerate(by_shard):
        assert 60 <= len(shard_ids) <= 140  # about a quarter each
        assert all(int(i, 16) % 4 == index for i in shard_ids)
    assert set().union(*by_shard) == {*ids, job_id("first")}


async def test_jobs_by_id_reach_their_shard(make_queue: MakeQueue) -> None:
    queue = make_queue(shards=3)
    ids = await queue.put_many([{"n": n} for n in range(12)])
    jobs = await queue.get_many(12, lock_timeout=30_000)
    assert sorted(j.id for j in jobs) == sorted(i for i in ids if i)
    done, failed, extended, dead, *rest = jobs
    await done.complete(result={"ok": done.payload["n"]})
    await failed.release(delay=60, error="boom")
    await extended.extend(60_000)
    await dead.dead_letter(error="bad")
    assert await queue.result(done.id, timeout=0) == {"ok": done.payload["n"]}
    status = await queue.status(failed.id)
    assert status is not None and status.state == "delayed" and status.last_error == "boom"
    assert isinstance(await queue.status(dead.id), JobStatus)
    assert await queue.cancel(rest[0].id) is True
    assert await queue.status(rest[0].id) is None
    stats = await queue.stats()
    assert (stats.locked, stats.delayed, stats.dead) == (len(rest), 1, 1)
    for job in [*rest[1:], extended]:
        await job.complete()
    assert (await queue.stats()).locked == 0


# -- taking fairly ---------------------------------------------------------------------


async def test_gets_take_from_every_shard_early(make_queue: MakeQueue) -> None:
    queue = make_queue(shards=2)
    await queue.put_many(payloads_on(0, 2, 1000))
    few = payloads_on(1, 2, 10)
    await queue.put_many(few)
    # one get of 20 takes the 10 of the small shard beside 10 of the large one
    jobs = await queue.get_many(20, lock_timeout=30_000)
    assert Counter(shard_of(j.payload, 2) for j in jobs) == {0: 10, 1: 10}
    for job in jobs:
        await job.release()
    # single gets start at the next shard in turn: two take one from each
    singles = [await queue.get(lock_timeout=30_000) for _ in range(2)]
    assert {shard_of(j.payload, 2) for j in singles if j is not None} == {0, 1}
    # a get of more than the small shard has fills up from the large one
    rest = await queue.get_many(100, lock_timeout=30_000)
    assert len(rest) == 100
    assert sum(shard_of(j.payload, 2) == 1 for j in rest) == 9


async def test_a_get_of_one_finds_the_only_shard_with_jobs(make_queue: MakeQueue) -> None:
    queue = make_queue(shards=5)
    (payload,) = payloads_on(3, 5, 1)
    await queue.put(payload)
    for _ in range(5):  # whatever shard it starts at
        job = await queue.get(lock_timeout=30_000)
        assert job is not None and job.payload == payload
        await job.release()


async def test_a_put_on_any_shard_wakes_an_idle_consumer(make_queue: MakeQueue) -> None:
    consumer, producer = make_queue(shards=3), make_queue(shards=3)
    got: asyncio.Queue[Job] = asyncio.Queue()
    empty_looks = 0
    real_get_many = consumer.get_many

    async def counting_get_many(count: int, *, lock_timeout: float = 1000) -> list[Job]:
        nonlocal empty_looks
        jobs = await real_get_many(count, lock_timeout=lock_timeout)
        empty_looks += not jobs
        return jobs

    consumer.get_many = counting_get_many  # type: ignore[method-assign]

    async def consume() -> None:
        # without a wake-up, it looks again only after 60 s
        async for job in consumer.consume(min_interval=60.0, max_interval=60.0):
            await job.complete()
            got.put_nowait(job)

    task = asyncio.create_task(consume())
    try:
        for shard in (2, 1, 0):
            # put only once the consumer looked and found nothing: then only a wake-up
            # (or the look its subscribing makes) can find the job within 60 s
            seen = empty_looks

            def looked(seen: int = seen) -> bool:
                return empty_looks > seen

            await eventually(looked, "an idle look", watch=[task])
            (payload,) = payloads_on(shard, 3, 1, "wake")
            await producer.put(payload)
            job = await asyncio.wait_for(got.get(), PATIENCE)
            assert job.payload == payload
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


# -- the queue as a whole ------------------------------------------------------------


async def test_inspection_spans_every_shard(make_queue: MakeQueue) -> None:
    queue = make_queue(shards=3)
    later = [payloads_on(s, 3, 2, "later") for s in range(3)]
    for seconds, payload in enumerate(itertools.chain(*zip(*later, strict=True)), start=1):
        await queue.put(payload, delay=100 * seconds)
    now = [payloads_on(s, 3, 2, "now") for s in range(3)]
    await queue.put_many(itertools.chain(*now))
    assert (await queue.stats()).ready == 6
    assert (await queue.stats()).delayed == 6
    peeked = await queue.peek(12)
    assert [w.due_at for w in peeked] == sorted(w.due_at for w in peeked)
    assert [w.payload for w in peeked[6:]] == list(itertools.chain(*zip(*later, strict=True)))
    assert len(await queue.peek(4)) == 4
    jobs = await queue.get_many(6, lock_timeout=30_000)
    assert {shard_of(j.payload, 3) for j in jobs} == {0, 1, 2}
    for n, job in enumerate(jobs):
        await job.dead_letter(error=f"e{n}")
    dead = await queue.dead_letters()
    assert [d.error for d in dead] == [f"e{n}" for n in range(6)]  # oldest first
    assert [d.error for d in await queue.dead_letters(2)] == ["e0", "e1"]
    assert await queue.requeue_dead([jobs[0].id, jobs[1].id]) == 2
    assert await queue.delete_dead([jobs[2].id]) == 1
    assert await queue.requeue_dead() == 3
    assert (await queue.stats()).ready == 5
    assert await queue.purge() == 11
    assert (await queue.stats()).total == 0
    assert await jobs_by_shard(queue) == [set(), set(), set()]


async def test_a_sharded_queue_lists_once_by_its_name(make_real_queue: MakeQueue) -> None:
    queue = make_real_queue(shards=4)
    await queue.put_many(range(20))
    names = await queue_names(queue.redis)
    assert queue.name in names
    assert not [n for n in names if queue.name in n and n != queue.name]


# -- the number of shards is the queue's -------------------------------------------------


async def _snapshot(client: aioredis.Redis, name: str) -> dict[bytes, bytes | None]:
    return {k: await client.dump(k) async for k in client.scan_iter(match=f"ajq:{{{name}*")}


async def test_opening_with_other_shards_raises_and_changes_nothing(
    make_real_queue: MakeQueue, redis_server: RedisServer, queue_name: str
) -> None:
    queue = make_real_queue(shards=3)
    await queue.put_many(range(10))
    async with aioredis.Redis(port=redis_server.port) as admin:
        before = await _snapshot(admin, queue_name)
        assert before[f"ajq:{{{queue_name}}}:shards".encode()]
        for given, call in ((2, "put"), (1, "stats"), (1, "get"), (4, "put_many")):
            wrong = make_real_queue(shards=given)
            with pytest.raises(ShardsMismatchError) as raised:
                if call == "put":
                    await wrong.put("x")
                elif call == "put_many":
                    await wrong.put_many(["x"])
                elif call == "get":
                    await wrong.get()
                else:
                    await wrong.stats()
            assert (raised.value.stored, raised.value.given) == (3, given)
            assert "shards=3" in str(raised.value) and f"shards={given}" in str(raised.value)
            assert queue_name in str(raised.value)
        assert await _snapshot(admin, queue_name) == before
    assert (await queue.stats()).ready == 10


async def test_an_unsharded_queue_opened_with_shards_raises(
    make_real_queue: MakeQueue, redis_server: RedisServer, queue_name: str
) -> None:
    plain = make_real_queue()
    await plain.put("old job")
    async with aioredis.Redis(port=redis_server.port) as admin:
        before = await _snapshot(admin, queue_name)
        with pytest.raises(ShardsMismatchError, match=r"has shards=1 .* shards=2"):
            await make_real_queue(shards=2).put("new job")
        assert await _snapshot(admin, queue_name) == before


@pytest.mark.parametrize(
    ("shards", "error", "shown"),
    [
        (0, ValueError, "shards must be >= 1, got 0"),
        (-2, ValueError, "shards must be >= 1, got -2"),
        ("3", TypeError, "shards must be an int, got '3'"),
        (True, TypeError, "shards must be an int, got True"),
        (2.0, TypeError, "shards must be an int, got 2.0"),
        (1025, ValueError, "shards must be at most 1024, got 1025"),
    ],
)
def test_bad_shards_are_refused_naming_the_value(shards: Any, error: type, shown: str) -> None:
    with pytest.raises(error) as raised:
        RedisJobQueue("q", redis=object(), shards=shards)
    assert str(raised.value) == shown


# -- on the cluster --------------------------------------------------------------------


def masters_of(cluster: RedisClusterServer, queue: RedisJobQueue) -> Counter[int]:
    """How many of the queue's shards each master serves, by port."""
    return Counter(cluster.node_of(keys.waiting).port for keys in queue.shard_keys)


@pytest.mark.real_redis
async def test_shards_spread_evenly_over_the_masters(redis_cluster: RedisClusterServer) -> None:
    ports = {n.port for n in redis_cluster.primaries()}
    for name in ("orders", "emails", "a", "x" * 200):
        three = RedisJobQueue(name, url=redis_cluster.url, cluster=True, shards=3)
        six = RedisJobQueue(name, url=redis_cluster.url, cluster=True, shards=6)
        try:
            assert set(masters_of(redis_cluster, three)) == ports
            assert sorted(masters_of(redis_cluster, six).values()) == [2, 2, 2]
            slots = [key_slot(keys.tag) for keys in six.shard_keys]
            assert all(k * SLOTS / 6 <= s < (k + 1) * SLOTS / 6 for k, s in enumerate(slots))
        finally:
            await three.aclose()
            await six.aclose()


@pytest.mark.real_redis
async def test_a_worker_drains_a_sharded_queue_on_the_cluster(
    cluster_jobqueue_factory: Any, redis_cluster: RedisClusterServer
) -> None:
    queue = cluster_jobqueue_factory(shards=6)
    ids = await queue.put_many({"n": n} for n in range(300))
    assert (await queue.stats()).ready == 300
    counts: Counter[int] = Counter()
    # every master holds a third of the jobs
    per_master: Counter[int] = Counter()
    for keys in queue.shard_keys:
        per_master[redis_cluster.node_of(keys.payloads).port] += await queue.redis.hlen(
            keys.payloads
        )
    assert sorted(per_master.values())[0] >= 60

    async def handler(job: Job) -> None:
        counts[job.payload["n"]] += 1

    worker = Worker(queue, handler, concurrency=20, lock_timeout=30_000)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: len(counts) == 300, "the worker to run every job", watch=[task])
        await eventually(
            lambda: worker.counts.get("complete") == 300, "every job completed", watch=[task]
        )
    finally:
        worker.stop()
        await asyncio.wait_for(task, PATIENCE)
    assert set(counts.values()) == {1}
    assert (await queue.stats()).total == 0
    assert len([i for i in ids if i]) == 300


async def test_a_traced_job_on_a_sharded_queue_is_handled_in_the_requests_trace(
    make_queue: MakeQueue,
) -> None:
    from opentelemetry.sdk.trace import TracerProvider
    from opentelemetry.sdk.trace.export import SimpleSpanProcessor
    from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter

    from aioredisjobqueue.otel import Tracing

    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    queue = make_queue(shards=3)
    tracing = Tracing(provider)
    with provider.get_tracer("app").start_as_current_span("request"):
        for shard in range(3):
            await tracing.put(queue, payloads_on(shard, 3, 1, "traced")[0])

    async def handle(job: Job) -> None:
        pass

    worker = Worker(queue, handle, on_event=tracing.on_event)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(lambda: worker.counts.get("complete") == 3, watch=[task])
    finally:
        worker.stop()
        await asyncio.wait_for(task, PATIENCE)
    provider.shutdown()
    spans = exporter.get_finished_spans()
    publish = {s.context.span_id for s in spans if s.name == f"{queue.name} publish"}
    process = [s for s in spans if s.name == f"{queue.name} process"]
    assert len(publish) == 3 and len(process) == 3
    # each job's span continues the trace of the put that queued it, on whatever shard
    assert {s.parent.span_id for s in process if s.parent is not None} == publish


async def test_a_worker_retries_and_dead_letters_on_each_jobs_shard(
    make_queue: MakeQueue,
) -> None:
    queue = make_queue(shards=3)
    await queue.put_many([{"n": n} for n in range(30)] + [{"dead": n} for n in range(6)])
    deliveries: Counter[str] = Counter()

    async def handle(job: Job) -> None:
        deliveries[job.id] += 1
        if "dead" in job.payload:
            raise DoNotRetry("no use")
        if job.deliveries == 1:
            raise ValueError("first time fails")

    worker = Worker(queue, handle, concurrency=8, retry_delay=0.01, retry_max_delay=0.05)
    task = asyncio.create_task(worker.run())
    try:
        await eventually(
            lambda: worker.counts.get("complete") == 30 and worker.counts.get("dead") == 6,
            "every job retried once and completed, or dead-lettered",
            watch=[task],
        )
    finally:
        worker.stop()
        await asyncio.wait_for(task, PATIENCE)
    assert worker.counts.get("retry") == 30 and not worker.counts.get("lock_lost")
    dead = await queue.dead_letters()
    assert sorted(d.payload["dead"] for d in dead) == list(range(6))
    assert {shard_of(d.payload, 3) for d in dead} == {0, 1, 2}
    assert (await queue.stats()).total == 6
