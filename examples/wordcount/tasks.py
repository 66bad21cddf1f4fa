"""The worker side of the word-count service: one job counts the lines and words of a file.

Run by the command line, as a deploy would:

    aioredisjobqueue worker tasks:count_words --queue wordcount --max-deliveries 3

A job's payload is ``{"path": "..."}``. The handler records its result in the Redis hash
``wordcount:results`` (path -> "lines words") and counts its runs in ``wordcount:runs``, so
the service can check afterwards that no file was lost. A file that cannot be read raises:
the worker retries the job with backoff and, after ``--max-deliveries``, leaves it in the
dead letters.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path

import anyio.to_thread
from redis.asyncio import Redis

from aioredisjobqueue import Job

RESULTS = "wordcount:results"
RUNS = "wordcount:runs"
# Each job also waits this long, as if it uploaded its result somewhere: it makes the
# queue drain slowly enough to watch.
WORK_SECONDS = float(os.environ.get("WORDCOUNT_WORK_SECONDS", "0.05"))

_redis: Redis | None = None


def results_db() -> Redis:
    """One client for the results, made on first use in the worker's event loop."""
    global _redis
    if _redis is None:
        _redis = Redis.from_url(os.environ.get("REDIS_URL", "redis://localhost:6379/0"))
    return _redis


def count(path: str) -> tuple[int, int]:
    text = Path(path).read_text(encoding="utf-8")
    return text.count("\n"), len(text.split())


async def count_words(job: Job) -> None:
    """Count the lines and words of ``job.payload["path"]`` and record them."""
    path = job.payload["path"]
    lines, words = await anyio.to_thread.run_sync(count, path)
    await asyncio.sleep(WORK_SECONDS)
    db = results_db()
    await db.hset(RESULTS, path, f"{lines} {words}")
    await db.hincrby(RUNS, path, 1)
