"""taskiq with taskiq-redis: ``RedisStreamBroker`` (acknowledged) and ``ListQueueBroker``.

A broker object to enqueue through; the worker is a second broker object run in this
process by ``taskiq.api.run_receiver_task`` (what ``taskiq worker`` runs, without its
process manager).
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any, ClassVar

import redis.asyncio
from taskiq import AsyncBroker
from taskiq.api import run_receiver_task
from taskiq_redis import ListQueueBroker, RedisStreamBroker

from ..jobs import Recorder, current
from .base import QUEUE_NAME, Adapter, stop


async def bench_job(i: int, t: float | None = None, pad: str = "") -> None:
    await current().run(i, t)


_COMMON = (
    "no result backend (taskiq's default DummyResultBackend); `@broker.task` + "
    "`await task.kiq(**kw)`; worker: `run_receiver_task(broker, max_async_tasks=N, "
    "max_prefetch=0)` (as `taskiq worker --max-async-tasks N`); default JSON serializer; no "
    "bulk enqueue API"
)


class _Taskiq(Adapter):
    distributions = ("taskiq", "taskiq-redis")

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._broker = self._make_broker()
        self._task = self._broker.task(task_name="bench_job")(bench_job)
        self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url)

    def _make_broker(self) -> AsyncBroker:
        raise NotImplementedError

    async def open(self) -> None:
        await self._broker.startup()

    async def close(self) -> None:
        await self._broker.shutdown()
        await self._client.aclose()

    async def enqueue(self, kwargs: Mapping[str, Any]) -> None:
        await self._task.kiq(**kwargs)

    async def work(self, recorder: Recorder, *, concurrency: int, variant: str) -> None:
        broker = self._make_broker()
        broker.task(task_name="bench_job")(bench_job)
        await broker.startup()
        task = asyncio.create_task(
            run_receiver_task(broker, max_async_tasks=concurrency, max_prefetch=0)
        )
        try:
            await recorder.wait(task)
        finally:
            # RedisStreamBroker's listener can miss the cancellation (its XREADGROUP loop
            # goes on): stop() then leaves it behind, and closing the pool ends it.
            await stop(task)
            await broker.shutdown()


class TaskiqStream(_Taskiq):
    name = "taskiq"
    settings: ClassVar[str] = (
        f"taskiq-redis `RedisStreamBroker(url, queue_name='{QUEUE_NAME}')` (the recommended "
        "broker: consumer group, acknowledged; default xread_count=100), " + _COMMON
    )

    def _make_broker(self) -> AsyncBroker:
        return RedisStreamBroker(self.url, queue_name=QUEUE_NAME)

    async def queued(self) -> int:
        return int(await self._client.xlen(QUEUE_NAME))


class TaskiqList(_Taskiq):
    name = "taskiq-list"
    settings: ClassVar[str] = (
        f"taskiq-redis `ListQueueBroker(url, queue_name='{QUEUE_NAME}')` (LPUSH/BRPOP, no "
        "acknowledgement: a job a dying worker took is lost), " + _COMMON
    )

    def _make_broker(self) -> AsyncBroker:
        return ListQueueBroker(self.url, queue_name=QUEUE_NAME)

    async def queued(self) -> int:
        return int(await self._client.llen(QUEUE_NAME))
