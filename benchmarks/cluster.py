"""The queue's calls on a Redis Cluster: through redis-py's ``RedisCluster`` client (one
pooled connection per call) against the queue's own pipelined connection to the primary
that owns its slot, interleaved.

    .venv/bin/python -m benchmarks.cluster [--n 5000] [--repeat 5] [--output FILE]

A private 3-primary cluster on loopback. Each repeat, for each way in turn, times N puts
from 50 concurrent callers, then a drain of those N jobs by ``get_many(100)`` and a
concurrent ``complete()`` of each job taken, then 30 puts into the idle queue, each timed
until a ``consume()`` loop that polls every 60 s holds it. The RedisCluster way is a queue
given ``redis=RedisCluster(...)``; the pipe way a queue made with ``url=..., cluster=True``.
Prints medians (min-max over the repeats) and the ratio, and writes the table to --output.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

from redis.asyncio.cluster import RedisCluster

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisClusterServer

from .harness import summarize
from .tables import ratio, span, table

CALLERS = 50
WAYS = ("RedisCluster", "pipe")


async def _puts(queue: RedisJobQueue, n: int) -> float:
    """Puts per second from ``CALLERS`` concurrent callers."""
    numbers = iter(range(n))

    async def caller() -> None:
        for i in numbers:
            await queue.put(i)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return n / (time.perf_counter() - start)


async def _drain(queue: RedisJobQueue, n: int) -> float:
    """Jobs per second taken 100 at a time and completed concurrently."""
    done = 0
    start = time.perf_counter()
    while done < n:
        jobs = await queue.get_many(100, lock_timeout=60_000)
        await asyncio.gather(*(job.complete() for job in jobs))
        done += len(jobs)
    return n / (time.perf_counter() - start)


async def _pickup(queue: RedisJobQueue, wakes: int = 30) -> float:
    """Median ms from a put into the idle queue to a consume() loop that polls every
    60 s holding the job: the wake-up's latency."""
    got: asyncio.Queue[float] = asyncio.Queue()

    async def consume() -> None:
        async for job in queue.consume(60_000, min_interval=60, max_interval=60):
            got.put_nowait(time.perf_counter())
            await job.complete()

    task = asyncio.create_task(consume())
    times = []
    try:
        await queue.put("first")  # the subscription is up once this one is taken
        await got.get()
        for i in range(wakes):
            await asyncio.sleep(0.05)  # the consumer found nothing and sleeps
            start = time.perf_counter()
            await queue.put(i)
            times.append((await asyncio.wait_for(got.get(), 10) - start) * 1000)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
    times.sort()
    return times[len(times) // 2]


async def _one(way: str, url: str, n: int) -> tuple[float, float, float]:
    name = f"bench-{uuid.uuid4().hex[:8]}"
    client = RedisCluster.from_url(url) if way == "RedisCluster" else None
    try:
        reach = {"redis": client} if client is not None else {"url": url, "cluster": True}
        async with RedisJobQueue(name, **reach) as queue:  # type: ignore[arg-type]
            puts = await _puts(queue, n)
            drain = await _drain(queue, n)
            pickup = await _pickup(queue)
            await queue.purge()
    finally:
        if client is not None:
            await client.aclose()
    return puts, drain, pickup


async def measure(url: str, n: int, repeat: int) -> dict[str, dict[str, list[float]]]:
    found: dict[str, dict[str, list[float]]] = {
        "puts": {w: [] for w in WAYS},
        "drain": {w: [] for w in WAYS},
        "pickup": {w: [] for w in WAYS},
    }
    for turn in range(repeat):
        for way in WAYS if turn % 2 == 0 else WAYS[::-1]:
            puts, drain, pickup = await _one(way, url, n)
            found["puts"][way].append(puts)
            found["drain"][way].append(drain)
            found["pickup"][way].append(pickup)
    return found


def report(found: dict[str, dict[str, list[float]]], n: int, repeat: int) -> list[str]:
    rows = []
    for what, label in (("puts", f"puts/s, {CALLERS} callers"),
                        ("drain", "jobs/s, get_many(100) + complete"),
                        ("pickup", "idle pickup, median ms")):  # fmt: skip
        old, new = (summarize(found[what][w]) for w in WAYS)
        rows.append(
            [label, span(old), span(new), ratio(new.median, old.median) if old and new else "-"]
        )
    head = f"Redis Cluster: {n} jobs per run, {repeat} runs, 3 primaries on loopback"
    return [head, "", *table(["", "RedisCluster client", "queue's pipe", "ratio"], rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=5000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    with RedisClusterServer() as cluster:
        found = asyncio.run(measure(cluster.url, args.n, args.repeat))
    lines = report(found, args.n, args.repeat)
    print("\n".join(lines))
    if args.output:
        args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
