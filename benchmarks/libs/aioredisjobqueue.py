"""aioredisjobqueue: one ``RedisJobQueue`` object per process, its default pool."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from aioredisjobqueue import Job, RedisJobQueue, Worker

from ..jobs import Recorder
from .base import QUEUE_NAME, Adapter, stop

LOCK_MS = 30_000
MIN_INTERVAL = 0.01
MAX_INTERVAL = 1.0
BATCH = 100
CONSUME = "consume"
GET_MANY = f"get_many({BATCH})"
WORKER = "Worker"
HOUR_MS = 3_600_000
FILL_CHUNK = 1000


class AioRedisJobQueue(Adapter):
    name = "aioredisjobqueue"
    distributions = ("aioredisjobqueue",)
    settings = (
        f"`RedisJobQueue('{QUEUE_NAME}', url=...)` with the library's defaults (the queue's "
        "own pool); `put`, bulk `put_many` in chunks of 1000; worker = N tasks each "
        f"`async for job in queue.consume(lock_timeout={LOCK_MS}, min_interval={MIN_INTERVAL}, "
        f"max_interval={MAX_INTERVAL})` then `await job.complete()`, on one queue object; "
        f"batch variant: N tasks each looping `get_many({BATCH}, lock_timeout={LOCK_MS})` and "
        "running and completing its jobs one by one; Worker variant: "
        f"`Worker(queue, handler, concurrency=N, lock_timeout={LOCK_MS}).run()`, the handler "
        "returning completes the job"
    )
    bulk_api: ClassVar[str | None] = "put_many(1000)"
    drain_variants = (CONSUME, GET_MANY, WORKER)
    latency_variants = (CONSUME, WORKER)
    concurrent_enqueue = True
    has_depth = True

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.queue = RedisJobQueue(QUEUE_NAME, url=url)

    async def close(self) -> None:
        await self.queue.aclose()

    async def enqueue(self, kwargs: Mapping[str, Any]) -> None:
        await self.queue.put(dict(kwargs))

    async def enqueue_bulk(self, batch: Sequence[Mapping[str, Any]]) -> None:
        await self.queue.put_many([dict(k) for k in batch])

    async def queued(self) -> int:
        stats = await self.queue.stats()
        return stats.ready + stats.locked + stats.delayed

    @staticmethod
    async def _handle(job: Job, recorder: Recorder) -> None:
        payload = job.payload
        await recorder.run(payload["i"], payload.get("t"))
        await job.complete()

    async def _consume(self, recorder: Recorder) -> None:
        async for job in self.queue.consume(
            lock_timeout=LOCK_MS, min_interval=MIN_INTERVAL, max_interval=MAX_INTERVAL
        ):
            await self._handle(job, recorder)

    async def _get_many(self, recorder: Recorder) -> None:
        while True:
            jobs = await self.queue.get_many(BATCH, lock_timeout=LOCK_MS)
            if not jobs:
                await asyncio.sleep(MIN_INTERVAL)
            for job in jobs:
                await self._handle(job, recorder)

    async def work(self, recorder: Recorder, *, concurrency: int, variant: str) -> None:
        if variant == WORKER:

            async def handle(job: Job) -> None:
                await recorder.run(job.payload["i"], job.payload.get("t"))

            worker = Worker(self.queue, handle, concurrency=concurrency, lock_timeout=LOCK_MS)
            running = asyncio.create_task(worker.run())
            try:
                await recorder.wait(running)
            finally:
                await stop(running)
            return
        loop = self._get_many if variant == GET_MANY else self._consume
        tasks = [asyncio.create_task(loop(recorder)) for _ in range(concurrency)]
        everything = asyncio.gather(*tasks)
        try:
            await recorder.wait(everything)
        finally:
            await stop(everything)

    async def depth_latencies(
        self, depth: int, samples: int, locked: bool
    ) -> tuple[list[float], int]:
        """Fill ``depth`` (+ ``samples``) jobs with put_many, optionally lock them all with
        get_many, then time ``samples`` sequential gets."""
        queue = self.queue
        await queue.redis.flushall()
        total = depth if locked else depth + samples
        for start in range(0, total, FILL_CHUNK):
            await queue.put_many([{"d": k} for k in range(start, min(total, start + FILL_CHUNK))])
        if locked:
            while await queue.get_many(FILL_CHUNK, lock_timeout=HOUR_MS):
                pass
            await queue.put_many([{"s": k} for k in range(samples)])
        latencies: list[float] = []
        found = 0
        for _ in range(samples):
            started = time.perf_counter()
            job = await queue.get(lock_timeout=HOUR_MS)
            latencies.append(time.perf_counter() - started)
            found += job is not None
        return latencies, found
