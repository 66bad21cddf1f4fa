"""arq: ``create_pool`` + ``enqueue_job``; ``Worker`` run in this process.

arq >= 0.26 requires redis<6, so it runs in a venv of its own (see benchmarks/run.sh).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Mapping
from typing import Any

from arq import Worker, create_pool, func
from arq.connections import ArqRedis, RedisSettings
from arq.constants import default_queue_name

from ..jobs import Recorder, current
from .base import Adapter, stop

# arq polls; its default poll_delay is 0.5 s. Set to aioredisjobqueue's min_interval so
# that arq is not tuned worse (arq sleeps poll_delay between polls even while busy).
POLL_DELAY = 0.01


async def bench_job(ctx: dict[str, Any], i: int, t: float | None = None, pad: str = "") -> None:
    await current().run(i, t)


class Arq(Adapter):
    name = "arq"
    distributions = ("arq",)
    settings = (
        "`create_pool(RedisSettings.from_dsn(url))`, `enqueue_job('bench_job', **kw)`; "
        f"`Worker(max_jobs=N, keep_result=0` (no result stored)`, poll_delay={POLL_DELAY}` "
        "(default 0.5 s)`, handle_signals=False)` run by `async_run()`; default pickle "
        "serializer; no bulk enqueue API"
    )

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._settings = RedisSettings.from_dsn(url)
        self._pool: ArqRedis | None = None

    @property
    def pool(self) -> ArqRedis:
        if self._pool is None:
            raise RuntimeError("open() first")
        return self._pool

    async def open(self) -> None:
        self._pool = await create_pool(self._settings)

    async def close(self) -> None:
        if self._pool is not None:
            await self._pool.aclose()

    async def enqueue(self, kwargs: Mapping[str, Any]) -> None:
        await self.pool.enqueue_job("bench_job", **kwargs)

    async def queued(self) -> int:
        return int(await self.pool.zcard(default_queue_name))

    async def work(self, recorder: Recorder, *, concurrency: int, variant: str) -> None:
        worker = Worker(
            functions=[func(bench_job, name="bench_job")],
            redis_settings=self._settings,
            max_jobs=concurrency,
            keep_result=0,
            poll_delay=POLL_DELAY,
            handle_signals=False,
        )
        task = asyncio.create_task(worker.async_run())
        try:
            await recorder.wait(task)
        finally:
            with contextlib.suppress(asyncio.CancelledError):
                await worker.close()
            await stop(task)
