"""saq: ``Queue.from_url`` + ``enqueue``; ``Worker`` run in this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from saq import Queue, Worker

from ..jobs import Recorder, current
from .base import QUEUE_NAME, Adapter, stop

# Job.ttl: -1 keeps no job information or result once the job finished (default 600 s).
TTL = -1


async def bench_job(ctx: Any, *, i: int, t: float | None = None, pad: str = "") -> None:
    await current().run(i, t)


class Saq(Adapter):
    name = "saq"
    distributions = ("saq",)
    settings = (
        f"`Queue.from_url(url, name='{QUEUE_NAME}')`, `enqueue('bench_job', ttl={TTL}, **kw)` "
        f"(ttl={TTL}: nothing kept after the job; default 600 s); `Worker(queue, "
        "functions=[bench_job], concurrency=N)` run by `start()` (blocking BLMOVE dequeue, "
        "default timers); default JSON serializer; no bulk enqueue API (`map`/`batch` "
        "enqueue one by one)"
    )

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.queue = Queue.from_url(url, name=QUEUE_NAME)

    async def open(self) -> None:
        await self.queue.connect()

    async def close(self) -> None:
        await self.queue.disconnect()

    async def enqueue(self, kwargs: Mapping[str, Any]) -> None:
        await self.queue.enqueue("bench_job", ttl=TTL, **kwargs)

    async def queued(self) -> int:
        return await self.queue.count("queued")

    async def work(self, recorder: Recorder, *, concurrency: int, variant: str) -> None:
        worker = Worker(self.queue, functions=[bench_job], concurrency=concurrency)
        task = asyncio.create_task(worker.start())
        try:
            await recorder.wait(task)
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await worker.stop()
            await stop(task)
