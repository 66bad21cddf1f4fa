"""Where an idle consumer's pickup goes, stage by stage, across two processes.

    .venv/bin/python -m benchmarks.pickup_trace [--n 300] [--rate 50] [--repeat 3]
        [--variants floor,consume,worker]

As ``benchmarks.pickup`` does, a producer process sends jobs at a steady rate to a consumer
process that is idle when each comes (a bare ``BLPOP``; 10 ``consume()`` loops; a
``Worker(concurrency=10)``). Both processes note, on the machine's monotonic clock (one
clock for every process on Linux), when each job passes a stage:

    stamp      the producer calls put() (or RPUSH)
    write      its command is written to the socket
    arrive     the reply of the consumer's blocking read reaches its event loop
               (``StreamReader.feed_data``: the bytes read from the socket)
    inbox      the inbox has the batch parsed (``Inbox._take``), in the inbox's task
    resume     the jobs are taken from the consumer's hand-off (``Poller.take_handed``):
               in consume()'s loop, once its task runs; for the Worker, in the inbox's
               task, which gives them to the slots waiting
    slot       (Worker) the slot's ``Feed.next()`` returns it
    handler    the consumer's code starts on the job (the loop body, the handler)

and prints, per stage, the median and p90 of each step over every job. ``write`` to
``arrive`` is Redis (the put script, or RPUSH) and the kernel between two processes;
everything after ``arrive`` is the consumer's client. The patches are the benchmark's
own: the library is not changed to be timed.
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import time
from collections.abc import Callable
from typing import Any

import redis.asyncio as aredis

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisServer

from .pickup import receive

_clock = time.perf_counter  # CLOCK_MONOTONIC: one clock for every process on Linux


class _Marks:
    """The times each stage was last passed, in this process."""

    def __init__(self) -> None:
        self.last: dict[str, float] = {}
        self.jobs: list[dict[str, float]] = []

    def note(self, stage: str) -> None:
        self.last[stage] = _clock()


MARKS = _Marks()


def _patch(owner: Any, name: str, stage: str, *, after: bool = False) -> None:
    """Note ``stage`` each time ``owner.name`` is called (``after``: when its await ends)."""
    original: Callable[..., Any] = getattr(owner, name)
    if after:

        async def timed_async(*args: Any, **kwargs: Any) -> Any:
            result = await original(*args, **kwargs)
            MARKS.note(stage)
            return result

        setattr(owner, name, timed_async)
        return

    def timed(*args: Any, **kwargs: Any) -> Any:
        MARKS.note(stage)
        return original(*args, **kwargs)

    setattr(owner, name, timed)


def _patch_consumer() -> None:
    from aioredisjobqueue import _feed, _inbox, _poll

    _patch(asyncio.StreamReader, "feed_data", "arrive")
    _patch(_inbox.Inbox, "_take", "inbox")
    # (before the Worker's feed took handed jobs from the inbox's task: _take_handed)
    handed = "take_handed" if hasattr(_poll.Poller, "take_handed") else "_take_handed"
    _patch(_poll.Poller, handed, "resume")
    _patch(_feed.Feed, "next", "slot", after=True)


def _consume(variant: str, url: str, name: str, n: int, out: Any) -> None:
    _patch_consumer()

    def record(stamp: float) -> None:
        marks = dict(MARKS.last, handler=_clock(), stamp=stamp)
        MARKS.jobs.append(marks)
        MARKS.last.clear()

    kind = {"floor": "bare BLPOP", "consume": "consume()"}.get(variant, "Worker")
    asyncio.run(receive(kind, url, name, n, record, MARKS.jobs.__len__))
    out.put(MARKS.jobs)


async def _produce(variant: str, url: str, name: str, n: int, rate: float) -> list[float]:
    """Send ``n`` jobs at ``rate``; the time each one's command was written."""
    written: list[float] = []
    pending: list[bool] = [False]
    write, writelines = asyncio.StreamWriter.write, asyncio.StreamWriter.writelines

    def timed_write(self: asyncio.StreamWriter, data: Any) -> None:
        if pending[0]:
            written.append(_clock())
            pending[0] = False
        write(self, data)

    def timed_writelines(self: asyncio.StreamWriter, data: Any) -> None:
        if pending[0]:
            written.append(_clock())
            pending[0] = False
        writelines(self, data)

    asyncio.StreamWriter.write = timed_write  # type: ignore[method-assign]
    asyncio.StreamWriter.writelines = timed_writelines  # type: ignore[method-assign]
    try:
        r = aredis.Redis.from_url(url)
        q: RedisJobQueue[Any] = RedisJobQueue(name, url=url)
        await q.stats()  # connect, and make the queue object's first calls, before timing
        await r.ping()
        await asyncio.sleep(1.5)  # the consumer connects and goes idle
        for i in range(n):
            await asyncio.sleep(1 / rate)
            pending[0] = True
            stamp = _clock()
            if variant == "floor":
                await r.rpush(name, repr(stamp))
            else:
                await q.put({"i": i, "t": stamp})
        await r.aclose()
        await q.aclose()
    finally:
        asyncio.StreamWriter.write = write  # type: ignore[method-assign]
        asyncio.StreamWriter.writelines = writelines  # type: ignore[method-assign]
    return written


STEPS = (
    ("stamp", "write", "producer: put() to its write"),
    ("write", "arrive", "Redis and the kernel: write to the consumer's read"),
    ("arrive", "inbox", "consumer: reply parsed, the inbox's task has it"),
    ("inbox", "resume", "consumer: the inbox to the consumer's jobs"),
    ("resume", "slot", "Worker: the jobs made, to a slot's task"),
    ("resume", "handler", "consume(): the job made and yielded"),
    ("slot", "handler", "Worker: the slot to the handler"),
    ("arrive", "handler", "consumer's client in all: read to handler"),
    ("stamp", "handler", "pickup: put() to handler"),
)


def run(variant: str, url: str, name: str, n: int, rate: float) -> list[dict[str, float]]:
    """One run of ``variant``: each job's stage times."""
    out: Any = mp.Queue()
    proc = mp.Process(target=_consume, args=(variant, url, name, n, out))
    proc.start()
    written = asyncio.run(_produce(variant, url, name, n, rate))
    jobs: list[dict[str, float]] = out.get(timeout=120)
    proc.join(30)
    by_stamp = dict(zip(sorted(j["stamp"] for j in jobs), written, strict=False))
    for job in jobs:
        job["write"] = by_stamp.get(job["stamp"], job["stamp"])
    return jobs


def _us(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * q))] * 1e6


def table(results: dict[str, list[dict[str, float]]]) -> list[str]:
    """Per step, each variant's median and p90 in µs."""
    names = list(results)
    lines = [
        "| step | " + " | ".join(f"{v} p50 / p90 µs" for v in names) + " |",
        "|---|" + "---|" * len(names),
    ]
    for start, end, label in STEPS:
        cells = []
        for v in names:
            d = [j[end] - j[start] for j in results[v] if start in j and end in j]
            cells.append(f"{_us(d, 0.5):.0f} / {_us(d, 0.9):.0f}" if d else "—")
        lines.append(f"| {label} | " + " | ".join(cells) + " |")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=300)
    parser.add_argument("--rate", type=float, default=50.0)
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--variants", default="floor,consume,worker")
    args = parser.parse_args()
    variants = args.variants.split(",")
    results: dict[str, list[dict[str, float]]] = {v: [] for v in variants}
    with RedisServer() as server:
        for rep in range(args.repeat):
            for k, v in enumerate(variants):
                results[v] += run(v, server.url, f"trace-{rep}-{k}", args.n, args.rate)
    print(f"({args.n} jobs at {args.rate:g}/s, {args.repeat} repeats, interleaved)")
    print(*table(results), sep="\n")


if __name__ == "__main__":
    main()
