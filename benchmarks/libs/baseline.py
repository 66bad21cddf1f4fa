"""The floor: a bare ``redis.asyncio`` client.

Enqueue: a "job" is a ``SET`` of a unique key. Drain: no queue at all, the job bodies alone
(the same INCR every library's handler runs) from the same number of concurrent tasks.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import redis.asyncio

from ..jobs import Recorder
from .base import Adapter, stop

BODIES_ONLY = "job bodies only"


def _key(kwargs: Mapping[str, Any]) -> str:
    return f"bench:key:{kwargs['i']}"


class BareRedis(Adapter):
    name = "redis"
    distributions = ("redis",)
    settings = (
        "`redis.asyncio.Redis.from_url(url)` (default pool); one job = `SET bench:key:<i> "
        "<json>`; bulk = a non-transactional pipeline of 1000 SETs; PING = the floor of "
        "one awaited round trip; drain = the N job bodies alone (INCR) from N concurrent "
        "tasks, no queue"
    )
    bulk_api: ClassVar[str | None] = "pipeline of 1000 SETs"
    concurrent_enqueue = True
    drain_variants = (BODIES_ONLY,)
    has_pickup = False

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self.client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url)

    async def open(self) -> None:
        await self.client.ping()

    async def close(self) -> None:
        await self.client.aclose()

    async def ping(self) -> None:
        await self.client.ping()

    async def enqueue(self, kwargs: Mapping[str, Any]) -> None:
        await self.client.set(_key(kwargs), json.dumps(kwargs, separators=(",", ":")))

    async def enqueue_bulk(self, batch: Sequence[Mapping[str, Any]]) -> None:
        async with self.client.pipeline(transaction=False) as pipe:
            for kwargs in batch:
                pipe.set(_key(kwargs), json.dumps(kwargs, separators=(",", ":")))
            await pipe.execute()

    async def queued(self) -> int:
        return int(await self.client.dbsize())

    async def work(self, recorder: Recorder, *, concurrency: int, variant: str) -> None:
        jobs = iter(range(recorder.target))

        async def loop() -> None:
            for i in jobs:
                await recorder.run(i)

        everything = asyncio.gather(*(loop() for _ in range(concurrency)))
        try:
            await recorder.wait(everything)
        finally:
            await stop(everything)
