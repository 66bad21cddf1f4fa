"""Scale-out: one logical queue with ``shards=N`` on a 1-master and a 3-master Redis Cluster.

    .venv/bin/python -m benchmarks.scaleout [--jobs 30000] [--repeat 3] [--consumers 8]
        [--batch 100] [--output benchmarks/results/scaleout.md]

Private clusters on loopback (no replicas). For each cluster and each number of shards, a
fresh queue gets ``--jobs`` no-op jobs by ``put_many``, then ``--consumers`` tasks of one
process drain it by ``get_many(--batch)`` and ``complete`` of each job taken (concurrent
completes share script calls). Measured over the drain only: jobs/s; each master's Redis
CPU (``INFO cpu``: used_cpu_sys + used_cpu_user, delta) per job it held; the busiest
master's share of one core; and the client process's share of one core (its CPU time over
the wall time). Repeats interleave the configurations; medians with min-max.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import tempfile
import time
import uuid
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

import redis.asyncio

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisClusterServer

from .harness import summarize
from .tables import span, table

# (masters, shards) in the order they run
CONFIGS = ((1, 1), (1, 3), (3, 1), (3, 3), (3, 6))


@dataclass(frozen=True, slots=True)
class Drain:
    """One drain: jobs/s, Redis CPU µs per job of each master (by port, masters holding
    none left out), the busiest master's core share, the client's core share."""

    rate: float
    cpu_per_job: dict[int, float]
    busiest: float
    client: float


async def _cpu(port: int) -> float:
    """Seconds of CPU the Redis server on ``port`` used so far."""
    async with redis.asyncio.Redis(port=port) as node:
        info = await node.info("cpu")
    return float(info["used_cpu_sys"]) + float(info["used_cpu_user"])


async def drain(
    cluster: RedisClusterServer, shards: int, jobs: int, consumers: int, batch: int
) -> Drain:
    """Fill a new queue of ``shards`` shards with ``jobs`` jobs, then drain it."""
    name = f"scaleout-{uuid.uuid4().hex[:8]}"
    async with RedisJobQueue(name, url=cluster.url, cluster=True, shards=shards) as queue:
        for start in range(0, jobs, 10_000):
            await queue.put_many(range(start, min(jobs, start + 10_000)))
        held: Counter[int] = Counter()  # jobs each master holds
        for keys in queue.shard_keys:
            held[cluster.node_of(keys.payloads).port] += await queue.redis.hlen(keys.payloads)
        ports = [n.port for n in cluster.primaries()]
        before = {port: await _cpu(port) for port in ports}
        done = 0

        async def consume() -> None:
            nonlocal done
            while done < jobs:
                taken = await queue.get_many(batch, lock_timeout=60_000)
                if not taken:  # the last jobs are held by other consumers
                    await asyncio.sleep(0.001)
                await asyncio.gather(*(job.complete() for job in taken))
                done += len(taken)

        wall, cpu = time.perf_counter(), time.process_time()
        await asyncio.gather(*(consume() for _ in range(consumers)))
        wall, cpu = time.perf_counter() - wall, time.process_time() - cpu
        used = {port: await _cpu(port) - before[port] for port in ports}
        await queue.purge()
        for key in (queue.keys.marker, queue.keys.shards, *(k.marker for k in queue.shard_keys)):
            await queue.redis.delete(key)
    return Drain(
        rate=jobs / wall,
        cpu_per_job={port: used[port] * 1e6 / held[port] for port in ports if held[port]},
        busiest=max(used.values()) / wall,
        client=cpu / wall,
    )


async def measure(
    clusters: dict[int, RedisClusterServer], jobs: int, repeat: int, consumers: int, batch: int
) -> dict[tuple[int, int], list[Drain]]:
    found: dict[tuple[int, int], list[Drain]] = {config: [] for config in CONFIGS}
    for _ in range(repeat):
        for masters, shards in CONFIGS:
            found[masters, shards].append(
                await drain(clusters[masters], shards, jobs, consumers, batch)
            )
    return found


def report(
    found: dict[tuple[int, int], list[Drain]],
    jobs: int,
    repeat: int,
    consumers: int,
    batch: int,
    load: float,
) -> list[str]:
    rows = []
    for (masters, shards), drains in found.items():
        rate = summarize([d.rate for d in drains])
        ports = sorted({port for d in drains for port in d.cpu_per_job})
        per_master = [
            summarize([d.cpu_per_job[p] for d in drains if p in d.cpu_per_job]) for p in ports
        ]
        busiest = summarize([d.busiest * 100 for d in drains])
        client = summarize([d.client * 100 for d in drains])
        rows.append([
            str(masters),
            str(shards),
            span(rate),
            " / ".join(f"{s.median:.1f}" for s in per_master if s is not None),
            f"{busiest.median:.0f}%" if busiest else "-",
            f"{client.median:.0f}%" if client else "-",
        ])  # fmt: skip
    head = (
        f"Scale-out: one queue drained by get_many({batch}) + complete, {jobs:,} no-op jobs, "
        f"{consumers} consumer tasks in one process, {repeat} runs, Redis Cluster on loopback "
        f"(`python -m benchmarks.scaleout`, {time.strftime('%Y-%m-%d')}, {os.cpu_count()} cores, "
        f"load average {load:.1f} at the start)"
    )
    columns = [
        "masters", "shards", "jobs/s", "Redis CPU µs/job, each master holding jobs",
        "busiest master, of a core", "client, of a core",
    ]  # fmt: skip
    return [head, "", *table(columns, rows)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--consumers", type=int, default=8)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--output", type=Path)
    args = parser.parse_args()
    load = os.getloadavg()[0]
    with (
        tempfile.TemporaryDirectory() as root,
        RedisClusterServer(Path(root) / "one", masters=1) as one,
        RedisClusterServer(Path(root) / "three", masters=3) as three,
    ):
        found = asyncio.run(
            measure({1: one, 3: three}, args.jobs, args.repeat, args.consumers, args.batch)
        )
    lines = report(found, args.jobs, args.repeat, args.consumers, args.batch, load)
    print("\n".join(lines))
    if args.output:
        args.output.write_text("\n".join(lines) + "\n")


if __name__ == "__main__":
    main()
