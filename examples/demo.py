"""Producers and consumers at work on one aioredisjobqueue queue, with live progress.

Three producers put 2,000 unique jobs: one by one with ``put()``, in batches with
``put_many()``, and some with ``delay=``. Putting content that is still queued raises
``DuplicateJobError`` (``put_many()`` returns None for it instead). Eight consumers take
jobs with ``consume(lock_timeout=5000)``, "work" a few ms and complete them. Consumer 0
"crashes" holding a few jobs it took with ``get(lock_timeout=300)``; when their locks
expire the jobs come back (``deliveries == 2``) and other consumers complete them. A
progress line shows ``queue.stats()`` live. At the end the demo checks that every job was
completed exactly once, and exits non-zero if not.

Run it:  bash scripts/example.sh                 (starts a private redis-server)
         REDIS_URL=redis://127.0.0.1:6379/0 bash scripts/example.sh
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import secrets
import sys
import time
from collections import Counter
from dataclasses import dataclass, field

from redis.exceptions import RedisError

from aioredisjobqueue import DuplicateJobError, Job, LockLostError, QueueStats, RedisJobQueue
from aioredisjobqueue.testing import RedisServer

TOTAL = 2000  # unique jobs
CONSUMERS = 8
CRASHES = 5  # jobs consumer 0 abandons
TTY = sys.stdout.isatty()


@dataclass
class Tally:
    """What the producers and consumers saw."""

    start: float = field(default_factory=time.monotonic)
    completed: Counter[int] = field(default_factory=Counter)  # job number -> completions
    by_consumer: Counter[int] = field(default_factory=Counter)
    abandoned: set[int] = field(default_factory=set)
    came_back: dict[int, int] = field(default_factory=dict)  # job number -> deliveries
    duplicates: Counter[str] = field(default_factory=Counter)  # "put" / "put_many" -> count
    problems: list[str] = field(default_factory=list)
    all_done: asyncio.Event = field(default_factory=asyncio.Event)
    abandoned_done: asyncio.Event = field(default_factory=asyncio.Event)


def say(message: str) -> None:
    """Print an event line (above the live progress line on a terminal)."""
    print("\r\x1b[K" + message if TTY else message, flush=True)


def payload(n: int) -> dict[str, object]:
    return {"n": n, "task": "thumbnail", "image": f"img-{n:04d}.jpg"}


async def put_one_by_one(
    queue: RedisJobQueue, numbers: range, tally: Tally, delay_every: int = 0
) -> None:
    """``put()`` each job; every ``delay_every``-th one delayed, then put again as a duplicate."""
    for n in numbers:
        if not delay_every or n % delay_every:
            await queue.put(payload(n))
        else:
            await queue.put(payload(n), delay=random.uniform(0.5, 2.0))
            try:  # the delayed job is surely still queued, so equal content is refused
                await queue.put(payload(n))
                tally.problems.append(f"a duplicate of job #{n} was accepted")
            except DuplicateJobError as exc:
                tally.duplicates["put"] += 1
                if tally.duplicates["put"] == 1:
                    say(f"producer: a duplicate put raised DuplicateJobError: {exc}")
        await asyncio.sleep(0.002)


async def put_in_batches(queue: RedisJobQueue, numbers: range, tally: Tally) -> None:
    """``put_many()`` batches of 50, each with its first payload repeated (returned as None)."""
    for start in range(numbers.start, numbers.stop, 50):
        batch = [payload(n) for n in range(start, min(start + 50, numbers.stop))]
        tally.duplicates["put_many"] += (await queue.put_many([*batch, batch[0]])).count(None)
        await asyncio.sleep(0.05)


async def handle(job: Job, me: int, tally: Tally) -> None:
    n = int(job.payload["n"])
    if job.deliveries > 1:
        say(f"consumer {me}: job #{n} is back after its lock expired (deliveries={job.deliveries})")
    await asyncio.sleep(random.uniform(0.002, 0.02))  # the "work"
    try:
        await job.complete()
    except LockLostError as exc:
        tally.problems.append(str(exc))
        return
    tally.completed[n] += 1
    tally.by_consumer[me] += 1
    if job.deliveries > 1:
        tally.came_back[n] = job.deliveries
        if tally.abandoned.issubset(tally.came_back):
            tally.abandoned_done.set()
    if len(tally.completed) == TOTAL:
        tally.all_done.set()


async def consumer(queue: RedisJobQueue, me: int, tally: Tally) -> None:
    async for job in queue.consume(lock_timeout=5000):
        await handle(job, me, tally)


async def crashing_consumer(queue: RedisJobQueue, me: int, tally: Tally) -> None:
    """Take a few jobs under 300 ms locks and "crash" holding them; rejoin once they are done."""
    await asyncio.sleep(0.2)  # let the producers get going
    while len(tally.abandoned) < CRASHES:
        job = await queue.get(lock_timeout=300)
        if job is None:
            await asyncio.sleep(0.01)
        elif job.deliveries > 1:  # only if the queue ran dry for 300 ms
            await handle(job, me, tally)
        else:
            tally.abandoned.add(int(job.payload["n"]))
    jobs = ", ".join(f"#{n}" for n in sorted(tally.abandoned))
    say(f"consumer {me}: crashed holding jobs {jobs} (300 ms locks), never completing them")
    await tally.abandoned_done.wait()  # a slow restart
    say(f"consumer {me}: restarted")
    await consumer(queue, me, tally)


def progress(stats: QueueStats, tally: Tally) -> str:
    done = sum(tally.completed.values())
    rate = done / (time.monotonic() - tally.start)
    return (
        f"ready {stats.ready:4}  locked {stats.locked:2}  delayed {stats.delayed:3}  "
        f"dead {stats.dead}  | completed {done:4}/{TOTAL}  {rate:4.0f} jobs/s"
    )


async def report(queue: RedisJobQueue, tally: Tally) -> None:
    while True:
        line = progress(await queue.stats(), tally)
        print("\r\x1b[K" + line if TTY else line, end="" if TTY else "\n", flush=True)
        await asyncio.sleep(0.1 if TTY else 0.5)


async def run(url: str, where: str) -> int:
    name = f"demo-{secrets.token_hex(4)}"  # unique per run: re-runs on one Redis never meet
    tally = Tally()
    async with RedisJobQueue(name, url=url) as queue:
        try:
            await queue.stats()
        except (RedisError, OSError) as exc:
            print(f"demo: cannot reach Redis at {where}: {exc}", file=sys.stderr)
            return 1
        say(f"queue {name!r} on {where}: 3 producers, {CONSUMERS} consumers, {TOTAL} jobs")
        try:
            async with asyncio.TaskGroup() as tg:
                tasks = [tg.create_task(crashing_consumer(queue, 0, tally))]
                tasks += [tg.create_task(consumer(queue, i, tally)) for i in range(1, CONSUMERS)]
                tasks.append(tg.create_task(report(queue, tally)))
                await asyncio.gather(
                    put_one_by_one(queue, range(0, 700), tally),
                    put_in_batches(queue, range(700, 1400), tally),
                    put_one_by_one(queue, range(1400, TOTAL), tally, delay_every=10),
                )
                try:
                    await asyncio.wait_for(tally.all_done.wait(), timeout=30)
                except TimeoutError:
                    tally.problems.append("timed out waiting for all jobs to be completed")
                elapsed = time.monotonic() - tally.start
                for task in tasks:
                    task.cancel()
            stats = await queue.stats()
            print(("\r\x1b[K" if TTY else "") + progress(stats, tally), flush=True)
        finally:
            with contextlib.suppress(Exception):  # leave nothing behind on a shared Redis
                await queue.redis.delete(*queue.keys.all())
    return summary(tally, stats, elapsed)


def summary(tally: Tally, stats: QueueStats, elapsed: float) -> int:
    problems = list(tally.problems)
    if missing := TOTAL - len(tally.completed):
        problems.append(f"{missing} jobs were never completed")
    if twice := sorted(n for n, times in tally.completed.items() if times != 1):
        problems.append(f"jobs completed more than once: {twice[:10]}")
    if stuck := sorted(n for n in tally.abandoned if tally.came_back.get(n) != 2):
        problems.append(f"abandoned jobs not completed on their 2nd delivery: {stuck}")
    if stats.total:
        problems.append(f"jobs left in the queue: {stats}")
    done, dup = sum(tally.completed.values()), tally.duplicates
    print(f"\n{done} jobs completed in {elapsed:.1f} s ({done / elapsed:.0f} jobs/s)")
    print(f"  redeliveries seen:   {len(tally.came_back)} (the jobs consumer 0 abandoned)")
    print(f"  duplicates rejected: {dup['put']} by put(), {dup['put_many']} by put_many()")
    print(f"  jobs per consumer:   {[tally.by_consumer[i] for i in range(CONSUMERS)]}")
    for problem in problems:
        print(f"FAILED: {problem}", file=sys.stderr)
    if not problems:
        print(f"OK: each of the {TOTAL} jobs was completed exactly once")
    return 1 if problems else 0


async def main() -> int:
    url = os.environ.get("REDIS_URL")
    if url:
        return await run(url, "REDIS_URL")
    try:
        server = RedisServer()
    except RuntimeError as exc:
        sys.exit(f"demo: {exc}, or set REDIS_URL")
    with server:
        return await run(server.url, f"a private redis-server at {server.url}")


if __name__ == "__main__":
    try:
        sys.exit(asyncio.run(main()))
    except KeyboardInterrupt:
        print("\ninterrupted", file=sys.stderr)
        sys.exit(130)
