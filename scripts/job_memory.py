"""What a queued job costs in Redis: MEMORY USAGE of each key of a queue and used_memory
growth, per job, for queues of several sizes; then how long status, cancel and a duplicate
put of the last ready job take in the largest (cancel scans the ready list for the job;
status and a duplicate put know it is there in O(1) while no entry was lost).

    python scripts/job_memory.py [SIZES] [PAYLOAD_BYTES]
    python scripts/job_memory.py 1000,100000 100

It runs on a throwaway redis-server of its own (``redis-server`` on the PATH), which it
flushes before each size.
"""

from __future__ import annotations

import asyncio
import sys
import time
from typing import Any

import redis.asyncio as aredis

from aioredisjobqueue import DuplicateJobError, RedisJobQueue, job_id
from aioredisjobqueue._codec import encode
from aioredisjobqueue.testing import RedisServer


def payload(i: int, size: int) -> dict[str, Any]:
    """``{"i": i, "pad": "x..."}`` whose canonical JSON is ``size`` bytes."""
    return {"i": i, "pad": "x" * max(0, size - len(encode({"i": i, "pad": ""})))}


async def used_memory(client: aredis.Redis) -> int:
    return int((await client.info("memory"))["used_memory"])


async def measure(client: aredis.Redis, url: str, n: int, size: int) -> RedisJobQueue:
    await client.flushdb()
    queue: RedisJobQueue = RedisJobQueue(f"memory-{n}", url=url)
    # the scripts, the keys and the connection's buffers exist before the measure
    await queue.put_many([payload(-i, size) for i in range(1, 1001)])
    keys = [k async for k in client.scan_iter(match=f"ajq:{{memory-{n}}}:*")]
    usage_before = {k: await client.memory_usage(k, samples=0) or 0 for k in keys}
    before = await used_memory(client)
    for start in range(0, n, 1000):
        await queue.put_many([payload(i, size) for i in range(start, min(n, start + 1000))])
    after = await used_memory(client)
    print(f"{n} jobs, {size}-byte payloads: used_memory grew {(after - before) / n:.1f} B/job")
    for key in sorted({*keys, *[k async for k in client.scan_iter(match=f"ajq:{{memory-{n}}}:*")]}):
        usage = await client.memory_usage(key, samples=0) or 0
        encoding = (await client.object("encoding", key) or b"-").decode()
        per_job = (usage - usage_before.get(key, 0)) / n
        print(f"  {key.decode():40} {encoding:10} {usage:>10} B  {per_job:7.1f} B/job")
    return queue


async def scans(queue: RedisJobQueue, n: int, size: int) -> None:
    """Time the calls that look for the job at the ready list's end."""
    last = payload(n - 1, size)
    last_id = job_id(last)

    async def duplicate() -> None:
        try:
            await queue.put(last)
        except DuplicateJobError:
            return
        raise AssertionError("the last job was not in the queue")

    # every script is loaded before the timing (its first call would load it)
    await queue.status(job_id("never put"))
    await queue.cancel(job_id("never put"))
    for what, call in [
        ("duplicate put", duplicate),
        ("status", lambda: queue.status(last_id)),
        ("cancel", lambda: queue.cancel(last_id)),
    ]:
        started = time.perf_counter()
        await call()
        took = (time.perf_counter() - started) * 1e3
        print(f"  {what} of the last of {n} ready jobs: {took:.2f} ms (one round trip)")


async def main(url: str) -> None:
    sizes = [int(s) for s in (sys.argv[1] if len(sys.argv) > 1 else "1000,100000").split(",")]
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 100
    client = aredis.Redis.from_url(url)
    try:
        for n in sizes:
            queue = await measure(client, url, n, size)
            if n == max(sizes):
                await scans(queue, n, size)
            await queue.aclose()
    finally:
        await client.aclose()


if __name__ == "__main__":
    with RedisServer() as server:
        print(f"redis-server {server.version}" if hasattr(server, "version") else server.url)
        asyncio.run(main(server.url))
