"""The queue on a real 3-primary Redis Cluster, reached through any one node."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import uuid
from collections.abc import Callable

import pytest
from helpers import eventually, hung
from redis.asyncio.cluster import RedisCluster
from test_cli import cli

from aioredisjobqueue import Job, NotReplicatedError, RedisJobQueue, Worker, job_id
from aioredisjobqueue._server_cluster import info, redis_cli
from aioredisjobqueue.testing import RedisClusterServer

pytestmark = pytest.mark.real_redis


def names_on_every_primary(cluster: RedisClusterServer) -> list[str]:
    """Queue names whose keys live on each primary, one per primary."""
    found: dict[int, str] = {}
    primaries = {n.port for n in cluster.primaries()}
    while set(found) != primaries:
        name = f"c-{uuid.uuid4().hex[:8]}"
        found.setdefault(cluster.node_of(f"ajq:{{{name}}}:waiting").port, name)
    return list(found.values())


def count_empty_looks(queue: RedisJobQueue) -> list[int]:
    """Count the queue object's get_many calls that found nothing: [count]."""
    looks = [0]
    get_many = queue.get_many

    async def counted(count: int, *, lock_timeout: float = 1000) -> list[Job]:
        jobs = await get_many(count, lock_timeout=lock_timeout)
        looks[0] += not jobs
        return jobs

    queue.get_many = counted  # type: ignore[method-assign]
    return looks


async def asleep(looks: list[int]) -> None:
    """Wait until a consumer looked and then stopped looking for half a second: it sleeps
    its long poll interval, so from now on only a wake-up makes it look again."""
    await eventually(lambda: looks[0] >= 1)
    seen = -1
    while seen != looks[0]:
        seen = looks[0]
        await asyncio.sleep(0.5)


async def test_every_call_works_whatever_node_the_url_names(
    redis_cluster: RedisClusterServer,
) -> None:
    names = names_on_every_primary(redis_cluster)
    for node in redis_cluster.primaries():
        for name in names:
            async with RedisJobQueue(name, url=node.url, cluster=True, max_deliveries=1) as queue:
                assert await queue.put({"a": 1}) is not None
                assert (await queue.put_many([{"b": 2}, {"b": 3}]))[0] is not None
                assert [w.payload for w in await queue.peek(3)] == [{"a": 1}, {"b": 2}, {"b": 3}]
                first = await queue.get(lock_timeout=10_000)
                assert first is not None and first.payload == {"a": 1}
                await first.extend(20_000)
                await first.complete()
                rest = await queue.get_many(2, lock_timeout=10_000)
                assert [j.payload for j in rest] == [{"b": 2}, {"b": 3}]
                await rest[0].release()  # max_deliveries=1: dead
                assert (await queue.stats()).dead == 1
                assert [d.payload for d in await queue.dead_letters()] == [{"b": 2}]
                assert await queue.requeue_dead() == 1
                assert await queue.purge() == 2
                assert (await queue.stats()).total == 0


async def test_a_redis_url_of_any_node_finds_the_cluster(redis_cluster: RedisClusterServer) -> None:
    """No cluster=True: the queue's first call asks the node (INFO cluster) and goes on as a
    cluster queue, whatever node holds the queue and whichever node the URL names."""
    names = names_on_every_primary(redis_cluster)
    for node in redis_cluster.nodes:  # replicas too
        if not node.running:
            continue
        for name in names:
            async with RedisJobQueue(name, url=node.url) as queue:
                assert await queue.put({"on": name}) == job_id({"on": name})
                assert isinstance(queue.redis, RedisCluster)
                job = await queue.get()
                assert job is not None and job.payload == {"on": name}
                await job.complete()
                assert (await queue.stats()).total == 0


async def test_a_sharded_queue_on_a_redis_url_of_a_cluster_node(
    redis_cluster: RedisClusterServer,
) -> None:
    """The shards follow the queue's answer: each goes to the primary of its own slot."""
    name = f"c-{uuid.uuid4().hex[:8]}"
    async with RedisJobQueue(name, url=redis_cluster.nodes[0].url, shards=3) as queue:
        assert len([i for i in await queue.put_many(range(30)) if i]) == 30
        assert isinstance(queue.redis, RedisCluster)
        jobs = await queue.get_many(30, lock_timeout=10_000)
        assert sorted(j.payload for j in jobs) == list(range(30))
        for job in jobs:
            await job.complete()
        assert (await queue.stats()).total == 0


async def test_a_redis_url_of_a_cluster_node_gets_wake_ups(
    redis_cluster: RedisClusterServer,
) -> None:
    """The first call settles the channels too: a consumer polling every 60 s on a queue
    reached by a plain redis:// URL takes a new job at once."""
    name = names_on_every_primary(redis_cluster)[1]
    async with RedisJobQueue(name, url=redis_cluster.nodes[0].url) as queue:
        taken: list[Job] = []

        async def consume() -> None:
            async for job in queue.consume(10_000, min_interval=60, max_interval=60):
                taken.append(job)
                await job.complete()

        looks = count_empty_looks(queue)
        task = asyncio.create_task(consume())
        try:
            await asleep(looks)
            await queue.put("wake up")
            await eventually(lambda: len(taken) == 1, watch=[task])
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task


async def test_concurrent_calls_share_one_connection_to_the_slots_primary(
    redis_cluster: RedisClusterServer,
) -> None:
    """The queue's calls are pipelined on one connection to the primary of its slot, as
    on one node: 50 concurrent calls open no connection there."""
    name = names_on_every_primary(redis_cluster)[2]
    primary = redis_cluster.node_of(f"ajq:{{{name}}}:waiting")

    def connections() -> int:  # redis-cli's own connection counts too: one per look
        return int(info(primary.port, "info", "stats")["total_connections_received"])

    async with RedisJobQueue(name, url=redis_cluster.url, cluster=True) as queue:
        await queue.put("x")  # the pipe is connected
        before = connections()
        stats = await asyncio.gather(*(queue.stats() for _ in range(50)))
        assert {s.ready for s in stats} == {1}
        assert connections() - before == 1
        await queue.purge()


async def test_idle_consumers_are_woken_on_a_cluster(redis_cluster: RedisClusterServer) -> None:
    """A consumer polling every 60 s still takes a new job at once: wake-ups reach it."""
    for name in names_on_every_primary(redis_cluster):
        async with RedisJobQueue(name, url=redis_cluster.url, cluster=True) as queue:
            taken: list[Job] = []

            async def consume(q: RedisJobQueue = queue, into: list[Job] = taken) -> None:
                async for job in q.consume(10_000, min_interval=60, max_interval=60):
                    into.append(job)
                    await job.complete()

            looks = count_empty_looks(queue)
            task = asyncio.create_task(consume())
            # the consumer found nothing and sleeps for 60 s: only a wake-up brings the job
            await asleep(looks)
            await queue.put("wake up")
            await eventually(lambda taken=taken: len(taken) == 1)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task


async def test_wake_ups_resume_after_a_failover_of_the_queues_primary(
    redis_cluster: RedisClusterServer,
) -> None:
    """The wake channel is a shard channel on the primary of the queue's slot: after that
    primary fails over, the subscription follows the slot, and a consumer polling every
    60 s still takes a new job at once."""
    name = names_on_every_primary(redis_cluster)[2]
    async with RedisJobQueue(name, url=redis_cluster.url, cluster=True) as queue:
        taken: list[Job] = []

        async def consume() -> None:
            async for job in queue.consume(10_000, min_interval=60, max_interval=60):
                taken.append(job)
                await job.complete()

        looks = count_empty_looks(queue)
        task = asyncio.create_task(consume())
        try:
            await asleep(looks)
            await queue.put("before")
            await eventually(lambda: len(taken) == 1, watch=[task])
            primary = redis_cluster.node_of(queue.keys.waiting)
            await asyncio.to_thread(redis_cluster.failover, primary)
            assert redis_cluster.node_of(queue.keys.waiting) != primary
            await asleep(looks)
            await queue.put("after")
            await eventually(lambda: len(taken) == 2, watch=[task])
        finally:
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        assert [j.payload for j in taken] == ["before", "after"]
        assert all(j.pickup_delay < 10 for j in taken)  # not the 60 s poll


async def test_a_queue_follows_its_slot_through_ask_and_moved(
    redis_cluster: RedisClusterServer,
) -> None:
    """The slot of a queue migrates to another primary while the queue is open: while it
    migrates, a call whose keys all went ahead is sent with ASKING to the new node (ASK;
    one with keys on neither node gets TRYAGAIN, which loops wait out), and once it moved,
    every call goes there (MOVED)."""
    name = names_on_every_primary(redis_cluster)[0]
    async with RedisJobQueue(name, url=redis_cluster.url, cluster=True) as queue:
        assert await queue.put_many(["a", "b", "c"])
        first = await queue.get(lock_timeout=30_000)
        assert first is not None and first.payload == "a"
        source = redis_cluster.node_of(queue.keys.waiting)
        target = next(p for p in redis_cluster.primaries() if p.port != source.port)
        slot = redis_cli(source.port, "cluster", "keyslot", queue.keys.waiting).strip()
        source_id = redis_cli(source.port, "cluster", "myid").strip()
        target_id = redis_cli(target.port, "cluster", "myid").strip()
        redis_cli(target.port, "cluster", "setslot", slot, "importing", source_id)
        redis_cli(source.port, "cluster", "setslot", slot, "migrating", target_id)
        keys = redis_cli(source.port, "cluster", "getkeysinslot", slot, "1000").split()
        assert queue.keys.locked in keys and queue.keys.state in keys
        redis_cli(source.port, "migrate", "127.0.0.1", str(target.port), "", "0", "5000",
                  "keys", *keys)  # fmt: skip
        # extend's keys (locked, state) are all on the target now: the source says ASK
        await first.extend(30_000)
        for primary in redis_cluster.primaries():
            redis_cli(primary.port, "cluster", "setslot", slot, "node", target_id)
        await asyncio.to_thread(redis_cluster.wait_ok)
        # the source node answers MOVED now; the queue follows to the target
        await first.complete()
        job = await queue.get()
        assert job is not None and job.payload == "b"
        await job.complete()
        assert (await queue.stats()).ready == 1
        assert redis_cluster.node_of(queue.keys.waiting).port == target.port
        assert await queue.purge() == 1


async def test_replicated_puts_wait_for_the_replica_of_the_slots_primary(
    redis_cluster: RedisClusterServer,
) -> None:
    """min_replicas on a cluster: the put script and WAIT go to the primary that owns the
    queue's slot, whichever node the URL names, and its replica confirms them."""
    for name in names_on_every_primary(redis_cluster):
        async with RedisJobQueue(
            name, url=redis_cluster.nodes[0].url, cluster=True, min_replicas=1, replica_timeout=5
        ) as queue:
            assert await queue.put("replicated") == job_id("replicated")
            assert await queue.put_many(["a", "b"]) == [job_id("a"), job_id("b")]
            assert (await queue.stats()).ready == 3
            assert await queue.purge() == 3


async def test_replicated_puts_on_a_cluster_say_when_too_few_replicas_confirmed(
    redis_cluster: RedisClusterServer,
) -> None:
    """The replica of the queue's primary hangs: no replica confirms the put (WAIT ran on
    the connection of the put, to that primary), so NotReplicatedError, with the job
    queued on the primary all the same. Each primary has one replica: wanting two is
    never met either."""
    name = names_on_every_primary(redis_cluster)[1]
    reach = {"url": redis_cluster.url, "cluster": True}
    async with (
        # a replica that answers confirms within 5 s, however loaded the machine
        RedisJobQueue(name, **reach, min_replicas=1, replica_timeout=5) as patient,
        RedisJobQueue(name, **reach, min_replicas=1, replica_timeout=0.2) as queue,
    ):
        assert await patient.put("replicated") == job_id("replicated")
        assert (await queue.stats()).ready == 1  # its first call's look at the cluster done
        replica = redis_cluster.replica_of(redis_cluster.node_of(queue.keys.waiting))
        # for a moment, far shorter than the node timeout: the replica is not failed, late
        with hung(replica.port), pytest.raises(NotReplicatedError) as caught:
            await queue.put("on the primary only")
        assert caught.value.job_ids == [job_id("on the primary only")]
        assert (caught.value.replicas, caught.value.wanted) == (0, 1)
        status = await queue.status(job_id("on the primary only"))
        assert status is not None and status.state == "waiting"
        assert await queue.purge() == 2
    # the one replica confirms within 2 s (WAIT waits that long for the second, never there)
    async with RedisJobQueue(name, **reach, min_replicas=2, replica_timeout=2) as queue:
        with pytest.raises(NotReplicatedError) as caught:
            await queue.put("on one replica only")
        assert (caught.value.replicas, caught.value.wanted) == (1, 2)
        assert await queue.purge() == 1


async def test_a_cluster_client_given_as_redis_gets_wake_ups(
    redis_cluster: RedisClusterServer,
) -> None:
    client = RedisCluster.from_url(redis_cluster.url)
    try:
        queue = RedisJobQueue(f"c-{uuid.uuid4().hex[:8]}", redis=client)
        taken: list[Job] = []

        async def consume() -> None:
            async for job in queue.consume(10_000, min_interval=60, max_interval=60):
                taken.append(job)

        looks = count_empty_looks(queue)
        task = asyncio.create_task(consume())
        await asleep(looks)
        await queue.put("wake up")
        await eventually(lambda: len(taken) == 1)
        task.cancel()
        with pytest.raises(asyncio.CancelledError):
            await task
        await queue.aclose()
        assert await client.ping()  # the queue does not close a client it was given
    finally:
        await client.aclose()


async def test_a_worker_drains_queues_on_every_primary(redis_cluster: RedisClusterServer) -> None:
    url = redis_cluster.url.replace("redis://", "redis+cluster://").removesuffix("/0")
    for name in names_on_every_primary(redis_cluster):
        async with RedisJobQueue(name, url=url) as queue:
            await queue.put_many(range(50))
            done: list[int] = []

            async def handle(job: Job, done: list[int] = done) -> None:
                done.append(job.payload)

            worker = Worker(queue, handle, concurrency=5)
            task = asyncio.create_task(worker.run())
            await eventually(lambda done=done: len(done) == 50)
            worker.stop()
            await task
            assert sorted(done) == list(range(50))
            assert (await queue.stats()).total == 0


async def test_command_line_reaches_queues_of_every_primary(
    redis_cluster: RedisClusterServer,
) -> None:
    names = names_on_every_primary(redis_cluster)
    url = redis_cluster.url
    for name in names:
        done = cli("--cluster", "--url", url, "put", name, json.dumps({"q": name}))
        assert done.returncode == 0, done.stderr
    listed = cli("--cluster", "--url", url, "stats", "--json")
    assert listed.returncode == 0, listed.stderr
    queues = {json.loads(line)["queue"] for line in listed.stdout.splitlines()}
    assert set(names) <= queues
    # without --cluster, a redis:// URL of any node finds the cluster: a queue on another
    # node, and the queues of every primary
    node = redis_cluster.nodes[0]
    other = next(n for n in names if redis_cluster.node_of(f"ajq:{{{n}}}:waiting").port
                 != node.port)  # fmt: skip
    peeked = cli("--url", node.url, "peek", other)
    assert peeked.returncode == 0, peeked.stderr
    assert json.loads(peeked.stdout.splitlines()[0]) == {"q": other}
    plain = cli("--url", node.url, "stats", "--json")
    assert plain.returncode == 0, plain.stderr
    assert set(names) <= {json.loads(line)["queue"] for line in plain.stdout.splitlines()}
    for name in names:
        assert cli("--cluster", "--url", url, "purge", name, "--yes").returncode == 0


async def drain_through(
    cluster: RedisClusterServer, name: str, fault: Callable[[], None], jobs: int = 2_000
) -> tuple[set[int], set[int]]:
    """A Worker and a consume() loop drain ``jobs`` jobs while a producer puts more;
    ``fault`` strikes the queue's primary mid-drain. Returns (acknowledged, done)."""
    acknowledged: set[int] = set()
    done: set[int] = set()
    async with RedisJobQueue(name, url=cluster.url, cluster=True) as queue:
        acknowledged.update(range(jobs))
        for start in range(0, jobs, 500):
            await queue.put_many(range(start, start + 500))

        async def handle(job: Job) -> None:
            done.add(job.payload)
            await asyncio.sleep(0.001)

        async def consume() -> None:
            async for job in queue.consume(5_000):
                done.add(job.payload)
                with contextlib.suppress(Exception):  # its outcome unknown: it comes back
                    await job.complete()

        async def produce() -> None:
            for n in itertools.count(jobs):
                try:
                    await queue.put(n)
                    acknowledged.add(n)
                except Exception:  # not acknowledged
                    await asyncio.sleep(0.05)
                await asyncio.sleep(0.005)

        worker = Worker(queue, handle, concurrency=4, lock_timeout=5_000)
        loops = [asyncio.create_task(worker.run()), asyncio.create_task(consume())]
        producer = asyncio.create_task(produce())
        try:
            await eventually(lambda: len(done) > jobs // 4)
            await asyncio.to_thread(fault)
            at_fault = len(acknowledged)
            await eventually(lambda: len(acknowledged) > at_fault + 100, within=60)
            producer.cancel()
            await eventually(
                lambda: acknowledged <= done or any(t.done() for t in loops), within=60
            )
            assert not any(t.done() for t in loops), [t.exception() for t in loops if t.done()]
        finally:
            producer.cancel()
            worker.stop()
            loops[1].cancel()
            await asyncio.gather(producer, *loops, return_exceptions=True)
        await queue.purge()
    return acknowledged, done


async def test_consumers_ride_through_a_killed_primary(redis_cluster: RedisClusterServer) -> None:
    """SIGKILL of the primary that holds the queue: its replica takes over after the node
    timeout, and the Worker and the consume() loop go on there."""
    name = names_on_every_primary(redis_cluster)[0]
    primary = redis_cluster.node_of(f"ajq:{{{name}}}:waiting")

    def kill() -> None:
        primary.kill()
        redis_cluster.wait_ok()

    try:
        acknowledged, done = await drain_through(redis_cluster, name, kill)
    finally:
        primary.start()  # it comes back as a replica of the new primary
        redis_cluster.wait_ok()
    print(f"killed primary: {len(acknowledged)} acknowledged, {len(acknowledged - done)} lost")


async def test_consumers_ride_through_a_cluster_failover(redis_cluster: RedisClusterServer) -> None:
    """CLUSTER FAILOVER on a replica of the queue's primary: the old primary turns replica
    (READONLY, MOVED), and the Worker and the consume() loop follow the slot."""
    name = names_on_every_primary(redis_cluster)[1]
    primary = redis_cluster.node_of(f"ajq:{{{name}}}:waiting")

    acknowledged, done = await drain_through(
        redis_cluster, name, lambda: redis_cluster.failover(primary)
    )
    assert acknowledged <= done  # a coordinated failover loses nothing


async def test_a_primary_that_may_evict_is_warned_of(
    redis_cluster: RedisClusterServer, caplog: pytest.LogCaptureFixture
) -> None:
    """The eviction check asks every primary: one of them evicting is enough to warn."""
    primary = redis_cluster.primaries()[-1]
    redis_cli(primary.port, "config", "set", "maxmemory-policy", "allkeys-lru")
    try:
        async with RedisJobQueue(f"c-{uuid.uuid4().hex[:8]}", url=redis_cluster.url,
                                 cluster=True) as queue:  # fmt: skip
            await queue.put("x")  # a first call, on a client that knows the slot map already
            await queue.purge()
        async with RedisJobQueue(queue.name, url=redis_cluster.url, cluster=True) as again:
            await again.redis.ping()  # the client loads its slot map before the check
            await again.put("x")
            await again.purge()
    finally:
        redis_cli(primary.port, "config", "set", "maxmemory-policy", "noeviction")
    warnings = [r for r in caplog.records if "maxmemory-policy allkeys-lru" in r.getMessage()]
    assert len(warnings) == 2
