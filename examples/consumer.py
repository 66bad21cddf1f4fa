"""Queue consumer: take jobs from "my-queue" under a lock and complete them.

The asyncio form of python-redisjobqueue's consumer example. Run against a Redis of yours:
    REDIS_URL=redis://localhost:6379/0 python examples/consumer.py
"""

import asyncio
import os

from aioredisjobqueue import RedisJobQueue


async def main() -> None:
    url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    async with RedisJobQueue(queue_name="my-queue", url=url) as queue:
        # lock_timeout is in milliseconds: if this consumer dies holding a job, the lock
        # expires after that long and the job is available to other consumers again.
        async for job in queue.consume(lock_timeout=1000):
            print(job.get())
            # remove the job from the queue for good
            await job.complete()


if __name__ == "__main__":
    asyncio.run(main())
