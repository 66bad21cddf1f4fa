"""The word-count service end to end, with live progress: the README's main example.

    bash scripts/example.sh          (or: python examples/wordcount/run.py)

1. Starts a private redis-server, unless REDIS_URL is set (then it uses that database's
   queue "wordcount" and keys "wordcount:*", clearing them first).
2. Starts two workers with the command line, as a deploy would:
   ``python -m aioredisjobqueue worker tasks:count_words --queue wordcount ...``
3. Queues every Python file of the standard library, and one path that does not exist.
   A job whose file does not exist or is not UTF-8 always fails: it is retried with
   backoff, then dead-lettered.
4. Shows ``aioredisjobqueue stats wordcount --watch`` while the queue drains.
5. Halfway, deploys: SIGTERM to worker 1, which finishes its running jobs and stops, and
   a new worker 3 takes over.
6. When nothing is left to run, stops the workers with SIGTERM and checks that every
   file was counted or dead-lettered; the exit status is 1 if one was lost.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import sysconfig
import tempfile
import time
from contextlib import ExitStack
from pathlib import Path

import anyio.to_thread
from producer import QUEUE, produce, python_files
from redis.asyncio import Redis
from tasks import RESULTS, RUNS

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue.testing import RedisServer

HERE = Path(__file__).resolve().parent
MISSING = "/no/such/file.py"
WORKER_OPTIONS = ["--concurrency", "8", "--max-deliveries", "3", "--retry-delay", "0.2",
                  "--retry-max-delay", "1", "--grace", "10"]  # fmt: skip


def command(*args: str) -> list[str]:
    return [sys.executable, "-m", "aioredisjobqueue", *args]


class Service:
    """The workers and the live view, as processes."""

    def __init__(self, url: str, logs: Path) -> None:
        self.url = url
        self.logs = logs
        self.workers: dict[int, subprocess.Popen[bytes]] = {}
        self.env = {**os.environ, "REDIS_URL": url, "PYTHONUNBUFFERED": "1"}

    def start_worker(self, n: int) -> None:
        log = (self.logs / f"worker-{n}.log").open("wb")
        self.workers[n] = subprocess.Popen(
            command("worker", "tasks:count_words", "--queue", QUEUE, *WORKER_OPTIONS),
            cwd=HERE, env=self.env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip

    def start_watch(self) -> subprocess.Popen[bytes]:
        """``aioredisjobqueue stats --watch``, live in a terminal, else once a second."""
        interval = "0.25" if sys.stdout.isatty() else "1"
        return subprocess.Popen(
            command("stats", QUEUE, "--watch", "--interval", interval, "--url", self.url)
        )

    def stop_worker(self, n: int) -> int:
        process = self.workers[n]
        process.send_signal(signal.SIGTERM)
        return process.wait(timeout=60)

    def summary(self, n: int) -> str:
        lines = (self.logs / f"worker-{n}.log").read_text().splitlines()
        stopped = [line for line in lines if " stopped: " in line]
        return stopped[-1].split(" stopped: ", 1)[1] if stopped else "no summary (see its log)"

    def kill_all(self) -> None:
        for process in self.workers.values():
            if process.poll() is None:
                process.kill()
                process.wait()


async def main(url: str, logs: Path) -> int:
    folder = Path(sysconfig.get_paths()["stdlib"])
    files = python_files(folder)
    results = Redis.from_url(url)
    service = Service(url, logs)
    async with RedisJobQueue(QUEUE, url=url) as queue:
        await queue.purge()
        await results.delete(RESULTS, RUNS)
        print(f"Redis: {url}")
        print(f"queue {QUEUE!r}: counting the lines and words of {len(files)} files in {folder}")
        try:
            service.start_worker(1)
            service.start_worker(2)
            queued = await produce(url, folder, extra=[MISSING])
            print(f"queued {queued} jobs; 2 workers at work (their logs: {logs})\n")
            watch = service.start_watch()
            deployed = False
            started = time.monotonic()
            while True:
                stats = await queue.stats()
                if not deployed and stats.ready + stats.delayed <= queued // 2:
                    # worker 1 finishes its running jobs first, then exits
                    await anyio.to_thread.run_sync(service.stop_worker, 1)
                    service.start_worker(3)
                    deployed = True
                if deployed and stats.ready + stats.locked + stats.delayed == 0:
                    break
                if time.monotonic() - started > 600:
                    print("the queue did not drain within 10 minutes", file=sys.stderr)
                    return 1
                await asyncio.sleep(0.1)
            elapsed = time.monotonic() - started
            watch.send_signal(signal.SIGTERM)
            for n in (2, 3):
                await anyio.to_thread.run_sync(service.stop_worker, n)
            await anyio.to_thread.run_sync(watch.wait, 10)
        finally:
            service.kill_all()
        runs = {k.decode(): int(v) for k, v in (await results.hgetall(RUNS)).items()}
        totals = [tuple(map(int, v.split())) for v in (await results.hgetall(RESULTS)).values()]
        dead = await queue.dead_letters()
    await results.aclose()

    died = {letter.payload["path"] for letter in dead}
    lost = [f for f in files if f not in runs and f not in died]
    twice = sum(n > 1 for n in runs.values())
    print(f"\ncounted {len(runs)} files in {elapsed:.1f} s: "
          f"{sum(t[0] for t in totals):,} lines, {sum(t[1] for t in totals):,} words")  # fmt: skip
    print("deploy: worker 1 stopped halfway and worker 3 took over")
    for n in (1, 2, 3):
        print(f"  worker {n}: {service.summary(n)}")
    print(f"dead letters ({len(dead)}), each after {sorted({d.deliveries for d in dead})} "
          "deliveries: files that do not exist or are not UTF-8")  # fmt: skip
    for path in sorted(died):
        print(f"  {path}")
    print(f"files lost: {len(lost)}; files counted more than once: {twice}")
    if lost or MISSING not in died:
        print(f"FAILED: lost {lost[:5]}" if lost else f"FAILED: {MISSING} is no dead letter")
        return 1
    print("OK: every file was counted or is a dead letter")
    return 0


def run() -> int:
    with ExitStack() as stack:
        url = os.environ.get("REDIS_URL")
        if not url:
            server = stack.enter_context(RedisServer())
            url = server.url
        logs = Path(tempfile.mkdtemp(prefix="wordcount-logs-"))  # kept, to read afterwards
        return asyncio.run(main(url, logs))


if __name__ == "__main__":
    sys.exit(run())
