"""The producer side of the word-count service: queue every Python file under a folder.

    python producer.py [FOLDER]      (default: Python's standard library)

Each file is one job, ``{"path": ...}``, put with ``put_many()`` in batches of 500.
A file already queued is a duplicate and is skipped: running the producer twice while
the queue is still draining queues nothing new.
"""

from __future__ import annotations

import asyncio
import os
import sys
import sysconfig
from pathlib import Path

from aioredisjobqueue import RedisJobQueue

QUEUE = "wordcount"


def python_files(folder: Path) -> list[str]:
    """The Python files under ``folder``, installed packages (site-packages) left out."""
    return sorted(
        str(p) for p in folder.rglob("*.py") if p.is_file() and "site-packages" not in p.parts
    )


async def produce(url: str, folder: Path, *, extra: list[str] | None = None) -> int:
    """Queue every Python file under ``folder`` (and the paths ``extra``); how many queued."""
    paths = python_files(folder) + (extra or [])
    queued = 0
    async with RedisJobQueue(QUEUE, url=url) as queue:
        for start in range(0, len(paths), 500):
            ids = await queue.put_many({"path": p} for p in paths[start : start + 500])
            queued += sum(i is not None for i in ids)
    return queued


def main() -> None:
    folder = Path(sys.argv[1] if len(sys.argv) > 1 else sysconfig.get_paths()["stdlib"])
    url = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
    queued = asyncio.run(produce(url, folder))
    print(f"queued {queued} files from {folder}")


if __name__ == "__main__":
    main()
