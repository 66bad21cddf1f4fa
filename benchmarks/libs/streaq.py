"""streaq: one ``Worker`` object to enqueue through, another one run in this process."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from streaq import Worker

from ..jobs import Recorder, current
from .base import QUEUE_NAME, Adapter, stop

# task ttl=0: no result stored (default 5 minutes).
TTL = 0


async def bench_job(i: int, t: float | None = None, pad: str = "") -> None:
    await current().run(i, t)


def _worker(url: str, concurrency: int) -> tuple[Worker[Any], Any]:
    worker: Worker[Any] = Worker(
        redis_url=url, queue_name=QUEUE_NAME, concurrency=concurrency, handle_signals=False
    )
    task = worker.task(name="bench_job", ttl=TTL)(bench_job)
    return worker, task


class Streaq(Adapter):
    name = "streaq"
    distributions = ("streaq", "coredis")
    settings = (
        f"`Worker(redis_url=url, queue_name='{QUEUE_NAME}', concurrency=N)`, "
        f"`@worker.task(ttl={TTL})` (no result stored; default 5 min), "
        "`await task.enqueue(**kw)` inside `async with worker`; bulk `worker.enqueue_many` "
        "(a pipeline) in chunks of 1000; the consuming Worker is a second object run by "
        "`run_async()` (default prefetch, pickle serializer; coredis client)"
    )
    bulk_api: ClassVar[str | None] = "enqueue_many(1000)"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._producer, self._task = _worker(url, 1)
        self._stack = contextlib.AsyncExitStack()

    async def open(self) -> None:
        await self._stack.enter_async_context(self._producer)

    async def close(self) -> None:
        await self._stack.aclose()

    async def enqueue(self, kwargs: Mapping[str, Any]) -> None:
        await self._task.enqueue(**kwargs)

    async def enqueue_bulk(self, batch: Sequence[Mapping[str, Any]]) -> None:
        await self._producer.enqueue_many([self._task.enqueue(**kwargs) for kwargs in batch])

    async def queued(self) -> int:
        return await self._producer.queue_size()

    async def work(self, recorder: Recorder, *, concurrency: int, variant: str) -> None:
        worker, _ = _worker(self.url, concurrency)
        task = asyncio.create_task(worker.run_async())
        try:
            await recorder.wait(task)
        finally:
            await stop(task)
