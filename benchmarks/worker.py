"""The Worker against the bare loops it replaces, in one process, interleaved.

    .venv/bin/python -m benchmarks.worker [--n 10000] [--repeat 5] [--output FILE]

- drain: N queued no-op jobs, run by a ``Worker(concurrency=10)`` and by 10 tasks looping
  ``consume()`` + ``complete()``, in turns, each repeat on an emptied private Redis;
  jobs/s and the Worker's share of the bare loop's rate.
- hand-over: a worker holds 10 jobs (60 s locks) in handlers that never end; a second
  worker waits on the same queue. Time from ``stop(grace=0)`` on the first until all 10
  run in the second, against the 60 s a crashed worker's jobs wait for their locks.
- renewal: one handler runs 10x its 300 ms lock while a rival consumer tries to take the
  job every 20 ms; how many times the job ran, and how often the rival got it.

Prints a markdown table (medians, min-max over the repeats) and writes it to --output.
"""

from __future__ import annotations

import argparse
import asyncio
import time
from pathlib import Path

from aioredisjobqueue import Job, RedisJobQueue, Worker

from .harness import RedisServer, summarize
from .tables import span, table

CONCURRENCY = 10
LOCK_MS = 30_000


async def drain_worker(url: str, n: int) -> float:
    """Jobs/s of a Worker draining ``n`` queued no-op jobs."""
    async with RedisJobQueue("bench", url=url) as queue:
        await fill(queue, n)
        done = 0
        finished = asyncio.Event()

        async def handle(job: Job) -> None:
            nonlocal done
            done += 1
            if done == n:
                finished.set()

        worker = Worker(queue, handle, concurrency=CONCURRENCY, lock_timeout=LOCK_MS)
        started = time.perf_counter()
        task = asyncio.create_task(worker.run())
        await finished.wait()
        elapsed = time.perf_counter() - started
        worker.stop()
        await task
        assert (await queue.stats()).total == 0
        return n / elapsed


async def drain_consume(url: str, n: int) -> float:
    """Jobs/s of ``CONCURRENCY`` tasks looping consume() + complete() over ``n`` jobs."""
    async with RedisJobQueue("bench", url=url) as queue:
        await fill(queue, n)
        done = 0
        finished = asyncio.Event()

        async def loop() -> None:
            nonlocal done
            async for job in queue.consume(lock_timeout=LOCK_MS):
                await job.complete()
                done += 1
                if done == n:
                    finished.set()

        started = time.perf_counter()
        tasks = [asyncio.create_task(loop()) for _ in range(CONCURRENCY)]
        await finished.wait()
        elapsed = time.perf_counter() - started
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        assert (await queue.stats()).total == 0
        return n / elapsed


async def fill(queue: RedisJobQueue, n: int) -> None:
    await queue.purge()
    for start in range(0, n, 1000):
        await queue.put_many(range(start, min(n, start + 1000)))


async def hand_over(url: str) -> float:
    """Seconds from stop(grace=0) of a worker holding 10 jobs until another runs all 10."""
    async with (
        RedisJobQueue("handover", url=url) as first_queue,
        RedisJobQueue("handover", url=url) as second_queue,
    ):
        await first_queue.purge()
        await first_queue.put_many(range(10))
        held = 0
        all_held = asyncio.Event()

        async def stuck(job: Job) -> None:
            nonlocal held
            held += 1
            if held == 10:
                all_held.set()
            await asyncio.sleep(3600)

        taken = 0
        all_taken = asyncio.Event()

        async def handle(job: Job) -> None:
            nonlocal taken
            taken += 1
            if taken == 10:
                all_taken.set()

        first = Worker(first_queue, stuck, lock_timeout=60_000, grace=0)
        second = Worker(second_queue, handle)
        second_task = asyncio.create_task(second.run())
        first_task = asyncio.create_task(first.run())
        await all_held.wait()
        started = time.perf_counter()
        first.stop()
        await all_taken.wait()
        elapsed = time.perf_counter() - started
        await first_task
        second.stop()
        await second_task
        return elapsed


async def renewal(url: str) -> tuple[int, int]:
    """(runs, rival takes) for a handler running 10x its 300 ms lock."""
    async with (
        RedisJobQueue("renewal", url=url) as queue,
        RedisJobQueue("renewal", url=url) as rival,
    ):
        await queue.purge()
        await queue.put("long")
        runs = 0

        async def handle(job: Job) -> None:
            nonlocal runs
            runs += 1
            await asyncio.sleep(3.0)

        worker = Worker(queue, handle, lock_timeout=300)
        task = asyncio.create_task(worker.run())
        takes = 0
        while worker.counts.get("complete", 0) == 0:
            job = await rival.get(lock_timeout=300)
            if job is not None:
                takes += 1
                await job.release()
            await asyncio.sleep(0.02)
        worker.stop()
        await task
        return runs, takes


async def measure(url: str, n: int, repeat: int) -> list[str]:
    worker_rates: list[float] = []
    consume_rates: list[float] = []
    handovers: list[float] = []
    runs: list[tuple[int, int]] = []
    for r in range(repeat):
        # interleaved, order alternating, so both meet the same noise
        first, second = (
            (drain_worker, drain_consume) if r % 2 == 0 else (drain_consume, drain_worker)
        )
        for variant in (first, second):
            rate = await variant(url, n)
            (worker_rates if variant is drain_worker else consume_rates).append(rate)
        handovers.extend([await hand_over(url) for _ in range(5)])
        runs.append(await renewal(url))
    worker, consume = summarize(worker_rates), summarize(consume_rates)
    over = summarize([s * 1000 for s in handovers])
    assert worker is not None and consume is not None and over is not None
    shares = summarize([w / c for w, c in zip(worker_rates, consume_rates, strict=True)])
    assert shares is not None
    return [
        f"N = {n} no-op jobs, concurrency {CONCURRENCY}, {repeat} repeats, medians (min-max)",
        "",
        *table(
            ["measure", "result"],
            [
                ["drain: Worker, jobs/s", span(worker)],
                ["drain: consume() loops, jobs/s", span(consume)],
                ["drain: Worker / consume(), per repeat", span(shares)],
                [
                    "hand-over after stop(grace=0), ms (10 jobs, 60 s locks)",
                    span(over),
                ],
                [
                    "handler at 10x its lock: runs / rival takes (each repeat)",
                    ", ".join(f"{a} / {b}" for a, b in runs),
                ],
            ],
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.worker", description=__doc__)
    parser.add_argument("--n", type=int, default=10_000, help="jobs per drain (10000)")
    parser.add_argument("--repeat", type=int, default=5, help="repeats (5)")
    parser.add_argument("--output", type=Path, help="also write the table here")
    args = parser.parse_args()
    with RedisServer() as server:
        lines = asyncio.run(measure(server.url, args.n, args.repeat))
    text = "\n".join(["# The Worker against bare consume() loops", "", *lines, ""])
    print(text, end="")
    if args.output is not None:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
