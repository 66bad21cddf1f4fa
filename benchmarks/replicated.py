"""What replicated puts cost: put latency with and without ``min_replicas=1``, interleaved.

    .venv/bin/python -m benchmarks.replicated [--n 2000] [--repeat 5] [--output FILE]

A private Sentinel group on loopback (a primary, one replica, three sentinels). Each repeat
times N sequential ``put()`` calls (one caller: the latency a request handler sees) and N
puts from 50 concurrent callers (group commit: one WAIT per batch), on a queue without and
a queue with ``min_replicas=1``, in turns. Prints medians (min-max over the repeats) and
the ratio, and writes the table to --output.
"""

from __future__ import annotations

import argparse
import asyncio
import time
import uuid
from pathlib import Path

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisSentinelGroup

from .harness import summarize
from .tables import ratio, span, table

CALLERS = 50


async def _sequential(queue: RedisJobQueue, n: int) -> float:
    """Median µs of one put, one caller at a time."""
    times = []
    for i in range(n):
        start = time.perf_counter()
        await queue.put(i)
        times.append((time.perf_counter() - start) * 1e6)
    times.sort()
    return times[len(times) // 2]


async def _concurrent(queue: RedisJobQueue, n: int) -> float:
    """Puts per second from ``CALLERS`` concurrent callers."""
    numbers = iter(range(n, 2 * n))

    async def caller() -> None:
        for i in numbers:
            await queue.put(i)

    start = time.perf_counter()
    await asyncio.gather(*(caller() for _ in range(CALLERS)))
    return n / (time.perf_counter() - start)


async def measure(url: str, n: int, repeat: int) -> dict[str, dict[int, list[float]]]:
    found: dict[str, dict[int, list[float]]] = {"latency": {0: [], 1: []}, "rate": {0: [], 1: []}}
    for _ in range(repeat):
        for replicas in (0, 1):
            name = f"bench-{uuid.uuid4().hex[:8]}"
            async with RedisJobQueue(name, url=url, min_replicas=replicas) as queue:
                found["latency"][replicas].append(await _sequential(queue, n))
                found["rate"][replicas].append(await _concurrent(queue, n))
                await queue.purge()
    return found


def report(found: dict[str, dict[int, list[float]]], n: int, repeat: int) -> list[str]:
    lat = {k: summarize(v) for k, v in found["latency"].items()}
    rate = {k: summarize(v) for k, v in found["rate"].items()}
    rows = [
        ["put, one caller: median µs", span(lat[0]), span(lat[1]),
         ratio(lat[1].median, lat[0].median) if lat[0] and lat[1] else "-"],
        [f"puts/s, {CALLERS} callers", span(rate[0]), span(rate[1]),
         ratio(rate[1].median, rate[0].median) if rate[0] and rate[1] else "-"],
    ]  # fmt: skip
    head = f"Replicated puts: {n} puts per run, {repeat} runs, Sentinel group on loopback"
    return [head, "", *table(["", "min_replicas=0", "min_replicas=1", "ratio"], rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    with RedisSentinelGroup() as group:
        found = asyncio.run(measure(group.url, args.n, args.repeat))
    lines = report(found, args.n, args.repeat)
    print("\n".join(lines))
    if args.output:
        args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
