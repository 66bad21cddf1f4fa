"""Pickup from each job's actual send, across two processes, against a one-hop floor.

    .venv/bin/python -m benchmarks.pickup [--repeat 3] [--json]

A producer process sends 200 jobs at 50/s, stamping each with ``time.time()`` just before
its send; a consumer process records ``time.time() - stamp`` when it gets the job. Three
consumers in turn, on a private redis-server: a bare ``BLPOP`` of values sent by ``RPUSH``
(the floor: one hop from a sender to a blocked reader on this machine), 10 ``consume()``
loops on one queue object, and a ``Worker(concurrency=10)``; both are idle when each job
comes, so it goes by the direct hand-off. Unlike the latency workload of
``python -m benchmarks``, which times from each job's scheduled send (open loop), this
leaves out the producer's own lateness, so it shows what the queue adds to one hop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import multiprocessing as mp
import statistics
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aredis

from aioredisjobqueue import Job, RedisJobQueue, Worker
from aioredisjobqueue.testing import RedisServer

N, RATE = 200, 50.0
KINDS = ("bare BLPOP", "consume()", "Worker")


async def receive(
    kind: str,
    url: str,
    name: str,
    n: int,
    record: Callable[[float], None],
    count: Callable[[], int],
) -> None:
    """Take jobs of queue ``name`` as ``kind`` (one of ``KINDS``) until ``count()`` reaches
    ``n``, calling ``record(t)`` with each job's send time ``t`` as its handler starts."""
    if kind == "bare BLPOP":
        r = aredis.Redis.from_url(url)
        while count() < n:
            reply = await r.blpop([name])
            assert reply is not None
            record(float(reply[1]))
        await r.aclose()
    elif kind == "consume()":
        q: RedisJobQueue[Any] = RedisJobQueue(name, url=url)
        async for job in q.consume(lock_timeout=30_000, max_interval=1.0):
            record(job.payload["t"])
            await job.complete()
            if count() >= n:
                break
        await q.aclose()
    else:
        q = RedisJobQueue(name, url=url)
        done = asyncio.Event()

        async def handler(job: Job[Any]) -> None:
            record(job.payload["t"])
            if count() >= n:
                done.set()

        worker = Worker(q, handler, concurrency=10, lock_timeout=30_000)
        task = asyncio.create_task(worker.run())
        await done.wait()
        worker.stop()
        await task
        await q.aclose()


def _consume(kind: str, url: str, name: str, out: Any) -> None:
    lat: list[float] = []
    asyncio.run(receive(kind, url, name, N, lambda t: lat.append(time.time() - t), lat.__len__))
    out.put(lat)


async def _produce(kind: str, url: str, name: str) -> None:
    r = aredis.Redis.from_url(url)
    q: RedisJobQueue[Any] = RedisJobQueue(name, url=url)
    await q.stats()  # connect, and make the queue object's first calls, before timing
    await r.ping()
    await asyncio.sleep(1.5)  # the consumer connects and goes idle
    for i in range(N):
        await asyncio.sleep(1 / RATE)
        stamp = time.time()
        if kind == "bare BLPOP":
            await r.rpush(name, repr(stamp))
        else:
            await q.put({"i": i, "t": stamp})
    await r.aclose()
    await q.aclose()


def _ms(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--json", action="store_true", help="print each run's p50, p99 (ms)")
    args = parser.parse_args()
    runs: dict[str, list[tuple[float, float]]] = {kind: [] for kind in KINDS}
    with RedisServer() as server:
        for rep in range(args.repeat):
            for n, kind in enumerate(KINDS):
                name = f"pickup-{rep}-{n}"
                out: Any = mp.Queue()
                proc = mp.Process(target=_consume, args=(kind, server.url, name, out))
                proc.start()
                asyncio.run(_produce(kind, server.url, name))
                lat = out.get(timeout=60)
                proc.join(30)
                runs[kind].append((_ms(lat, 0.5), _ms(lat, 0.99)))
    if args.json:
        print(
            json.dumps(
                {
                    kind: {"p50": [r[0] for r in got], "p99": [r[1] for r in got]}
                    for kind, got in runs.items()
                }
            )
        )
        return
    print(f"| consumer | p50 ms | p99 ms |  ({N} jobs at {RATE:.0f}/s, {args.repeat} repeats)")
    print("|---|---|---|")
    for kind, got in runs.items():
        p50s, p99s = [r[0] for r in got], [r[1] for r in got]
        print(
            f"| {kind} | {statistics.median(p50s):.2f} ({min(p50s):.2f}-{max(p50s):.2f}) "
            f"| {statistics.median(p99s):.2f} ({min(p99s):.2f}-{max(p99s):.2f}) |"
        )


if __name__ == "__main__":
    main()
