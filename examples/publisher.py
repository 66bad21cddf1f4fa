"""Queue publisher: put ten unique jobs in "my-queue".

The asyncio form of python-redisjobqueue's publisher example. Run against a Redis of yours:
    REDIS_URL=redis://localhost:6379/0 python examples/publisher.py
"""

import asyncio
import os

from aioredisjobqueue import DuplicateJobError, RedisJobQueue


async def main() -> None:
    url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    async with RedisJobQueue(queue_name="my-queue", url=url) as queue:
        for i in range(10):
            # only one job with the same content may be in the queue at a time;
            # any JSON value works as a payload
            try:
                await queue.put(f"Hello world {i}!")
            except DuplicateJobError as exc:
                print(f"already queued: {exc.job_id}")


if __name__ == "__main__":
    asyncio.run(main())
