"""rq: synchronous ``Queue.enqueue``; a ``SimpleWorker`` (no fork per job) in this process.

rq is synchronous: its calls block this process's event loop, which runs nothing else
meanwhile, and its worker runs one job at a time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

import redis
from rq import Queue, SimpleWorker

from ..jobs import Recorder, current
from .base import QUEUE_NAME, Adapter

# result_ttl=0: the job is deleted once it succeeded, no result kept (default 500 s).
RESULT_TTL = 0


def bench_job(i: int, t: float | None = None, pad: str = "") -> None:
    current().run_sync(i, t)


class Rq(Adapter):
    name = "rq"
    distributions = ("rq",)
    settings = (
        f"`Queue('{QUEUE_NAME}', connection=Redis.from_url(url))`, "
        f"`enqueue(bench_job, result_ttl={RESULT_TTL}, **kw)` (no result kept; default 500 s); "
        "bulk `enqueue_many` of `Queue.prepare_data(...)` in chunks of 1000 (one pipeline); "
        "worker: `SimpleWorker` (no fork per job, as rq's own benchmark notes advise for "
        "speed) `.work(logging_level='WARNING')` (= `rq worker --quiet`); one job at a time"
    )
    bulk_api: ClassVar[str | None] = "enqueue_many(1000)"
    concurrency_note = "1 (rq runs one job at a time per worker)"

    def __init__(self, url: str) -> None:
        super().__init__(url)
        self._redis = redis.Redis.from_url(url)
        self.queue = Queue(QUEUE_NAME, connection=self._redis)

    async def close(self) -> None:
        self._redis.close()

    async def enqueue(self, kwargs: Mapping[str, Any]) -> None:
        self.queue.enqueue(bench_job, result_ttl=RESULT_TTL, **kwargs)

    async def enqueue_bulk(self, batch: Sequence[Mapping[str, Any]]) -> None:
        self.queue.enqueue_many(
            [
                Queue.prepare_data(bench_job, kwargs=dict(kwargs), result_ttl=RESULT_TTL)
                for kwargs in batch
            ]
        )

    async def queued(self) -> int:
        return self.queue.count

    async def work(self, recorder: Recorder, *, concurrency: int, variant: str) -> None:
        worker = SimpleWorker([self.queue], connection=self._redis)
        worker.work(
            logging_level="WARNING",
            max_jobs=recorder.target,
            max_idle_time=max(1, round(recorder.limit_s)),
        )
