"""One drain, in this process, to profile: a Worker, bare consume() or get_many() loops.

    .venv/bin/python -m benchmarks.profile [--variant worker|consume|get_many|floor]
        [--job incr|noop]
        [--n 20000] [--concurrency 10]

Queues N jobs on a private redis-server, then times their drain as the benchmark's drain
does (the job body: nothing, or one INCR on a client of its own). Run it under a profiler:

    .venv/bin/py-spy record -o prof.svg -- .venv/bin/python -m benchmarks.profile
    .venv/bin/python -m cProfile -s tottime -m benchmarks.profile --variant consume

``--summary FILE...`` sums up py-spy raw profiles (``py-spy record --idle -f raw``) by
where a job's client time goes (benchmarks/results/profile.md).
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import json
import time
from pathlib import Path

import redis.asyncio

from aioredisjobqueue import Job, RedisJobQueue, Worker

from .harness import RedisServer

LOCK_MS = 30_000


async def drain(url: str, variant: str, body: str, n: int, concurrency: int) -> tuple[float, float]:
    """Jobs/s of one drain of ``n`` queued jobs, and this process's CPU µs per job."""
    client = redis.asyncio.Redis.from_url(url)
    done = 0
    finished = asyncio.Event()

    async def run() -> None:
        nonlocal done
        if body == "incr":
            await client.incr("bench:executed")
        done += 1
        if done == n:
            finished.set()

    async with RedisJobQueue("bench", url=url) as queue:
        await queue.purge()
        for start in range(0, n, 1000):
            await queue.put_many(range(start, min(n, start + 1000)))
        await client.ping()

        async def handle(job: Job) -> None:
            await run()

        async def consume() -> None:
            async for job in queue.consume(lock_timeout=LOCK_MS):
                await run()
                await job.complete()

        async def get_many() -> None:  # as the benchmark's get_many(100) row
            while True:
                jobs = await queue.get_many(100, lock_timeout=LOCK_MS)
                if not jobs:
                    await asyncio.sleep(0.01)
                for job in jobs:
                    await run()
                    await job.complete()

        async def floor() -> None:
            while done < n:
                await run()

        calls = await _script_calls(client)
        started, cpu = time.perf_counter(), time.process_time()
        if variant == "worker":
            worker = Worker(queue, handle, concurrency=concurrency, lock_timeout=LOCK_MS)
            tasks = [asyncio.create_task(worker.run())]
        else:
            loop = {"consume": consume, "get_many": get_many}.get(variant, floor)
            tasks = [asyncio.create_task(loop()) for _ in range(concurrency)]
        await finished.wait()
        elapsed = time.perf_counter() - started
        cpu = time.process_time() - cpu
        calls = await _script_calls(client) - calls
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
    await client.aclose()
    print(f"{calls / n:.3f} script calls per job")
    return n / elapsed, cpu / n * 1e6


async def _script_calls(client: redis.asyncio.Redis) -> int:
    stats = await client.info("commandstats")
    return sum(int(stats.get(f"cmdstat_{c}", {}).get("calls", 0)) for c in ("evalsha", "eval"))


# where a sample goes: the first rule its stack matches (the fill and the server are left out)
_LEFT_OUT = ("put_many", "purge", "_find_and_load", "RedisServer")


def _where(frames: list[str]) -> str:
    stack, leaf = ";".join(frames), frames[-1]
    if "drain.<locals>.run " in stack:
        return "job body (INCR on redis-py, its socket send included)"
    if "EpollSelector.select" in leaf:
        return "waiting in select (idle, or the loop polling)"
    if "Pipe." in stack and "_SelectorSocketTransport.write" in leaf:
        return "library: socket send of its script calls"
    if "Pipe._read" in stack or "_read_ready" in stack:
        return "reading replies (transport, the pipe's reader)"
    if "aioredisjobqueue/" in stack:
        return "library: Python (the asyncio/anyio it calls included)"
    return "event loop: scheduling, callbacks"


def summary(path: Path) -> list[str]:
    """The share of a py-spy raw profile's samples in each place a job's time goes."""
    shares: collections.Counter[str] = collections.Counter()
    for line in path.read_text().splitlines():
        stack, count = line.rsplit(" ", 1)
        frames = stack.split(";")
        if not any(x in stack for x in _LEFT_OUT):
            shares[_where(frames)] += int(count)
    total = sum(shares.values()) or 1
    return [f"| {where} | {100 * n / total:.1f}% |" for where, n in shares.most_common()]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.profile", description=__doc__)
    variants = ("worker", "consume", "get_many", "floor")
    parser.add_argument("--variant", choices=variants, default="worker")
    parser.add_argument("--job", choices=("incr", "noop"), default="incr")
    parser.add_argument("--n", type=int, default=20_000)
    parser.add_argument("--concurrency", type=int, default=10)
    parser.add_argument("--summary", type=Path, nargs="+", help="sum up py-spy raw profiles")
    parser.add_argument(
        "--json",
        action="store_true",
        help="drain every variant once (--repeat times, in turns) and print their jobs/s and "
        "CPU µs per job as JSON (for benchmarks.interleave)",
    )
    parser.add_argument("--repeat", type=int, default=1)
    args = parser.parse_args()
    if args.summary:
        for path in args.summary:
            print(f"{path}:", *summary(path), sep="\n")
        return
    if args.json:
        got: dict[str, dict[str, list[float]]] = {}
        with RedisServer() as server:
            for _ in range(args.repeat):
                for variant in variants:
                    rate, cpu = asyncio.run(
                        drain(server.url, variant, args.job, args.n, args.concurrency)
                    )
                    row = got.setdefault(variant, {"jobs/s": [], "CPU µs/job": []})
                    row["jobs/s"].append(rate)
                    row["CPU µs/job"].append(cpu)
        print(json.dumps(got))
        return
    with RedisServer() as server:
        rate, cpu = asyncio.run(drain(server.url, args.variant, args.job, args.n, args.concurrency))
    print(f"{args.variant} ({args.job}): {rate:,.0f} jobs/s, {cpu:.1f} µs CPU per job")


if __name__ == "__main__":
    main()
