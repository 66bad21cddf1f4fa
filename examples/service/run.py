"""The example service end to end: the README's main example.

    bash scripts/example.sh          (or: python examples/service/run.py)

1. Starts a private redis-server, unless REDIS_URL is set (then it uses that database's
   queues "emails" and "reports" and keys "service:*", clearing them first).
2. Starts the web app (``uvicorn app:app``) and one worker with the command line, as a
   deploy would: ``aioredisjobqueue worker tasks:tasks --queue emails --queue reports
   --lifespan tasks:lifespan``.
3. Drives the app over HTTP as its users would: queues emails (one to a busy address, one
   to no address at all), reads their status and results, sends one twice, queues a long
   report and cancels it while it runs, and reads the tally a periodic job keeps.
4. Stops the worker and the app with SIGTERM; the exit status is 1 if anything was off.
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

import httpx
from redis.asyncio import Redis

from aioredisjobqueue import RedisJobQueue
from aioredisjobqueue._keys import QueueKeys
from aioredisjobqueue.testing import RedisServer, free_port

HERE = Path(__file__).resolve().parent
WORKER = ["worker", "tasks:tasks", "--queue", "emails", "--queue", "reports",
          "--lifespan", "tasks:lifespan", "--concurrency", "4",
          "--lock-timeout", "3000"]  # fmt: skip


@contextmanager
def service(url: str, logs: Path) -> Iterator[str]:
    """The app and one worker, as processes; yields the app's base URL. Both get SIGTERM
    on the way out (a worker that did not stop cleanly raises)."""
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    env = {**os.environ, "REDIS_URL": url, "MAIL_API": base, "PYTHONUNBUFFERED": "1"}
    app_log = (logs / "app.log").open("wb")
    worker_log = (logs / "worker.log").open("wb")
    app = subprocess.Popen(
        [sys.executable, "-m", "uvicorn", "app:app", "--port", str(port), "--log-level", "warning"],
        cwd=HERE, env=env, stdout=app_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    worker = subprocess.Popen(
        [sys.executable, "-m", "aioredisjobqueue", *WORKER],
        cwd=HERE, env=env, stdout=worker_log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    try:
        _wait_until_up(base, app)
        yield base
    finally:
        for process in (worker, app):
            if process.poll() is None:
                process.send_signal(signal.SIGTERM)
        for process in (worker, app):
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        app_log.close()
        worker_log.close()
    if worker.returncode != 0:
        raise RuntimeError(f"the worker ended with status {worker.returncode}: see {logs}")


def _wait_until_up(base: str, app: subprocess.Popen[bytes]) -> None:
    deadline = time.monotonic() + 30
    while True:
        try:
            httpx.get(f"{base}/mailbox", timeout=1).raise_for_status()
            return
        except httpx.HTTPError:
            if app.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("the app did not start") from None
            time.sleep(0.05)


async def poll(client: httpx.AsyncClient, path: str, until: Any, within: float = 30) -> Any:
    """GET ``path`` until ``until(answer)`` holds; return the answer's JSON."""
    deadline = time.monotonic() + within
    while True:
        response = await client.get(path)
        if until(response):
            return response.json()
        if time.monotonic() > deadline:
            raise TimeoutError(f"GET {path}: still {response.status_code} {response.text}")
        await asyncio.sleep(0.05)


async def demo(base: str) -> list[str]:
    """Use the service over HTTP; return what went wrong (nothing, if all is well)."""
    problems: list[str] = []

    def check(ok: bool, what: str) -> None:
        print(f"  {'ok' if ok else 'WRONG'}: {what}")
        if not ok:
            problems.append(what)

    async with httpx.AsyncClient(base_url=base, timeout=30) as client:
        print("emails: POST /emails, then GET /jobs/{id}/result")
        ada = (await client.post("/emails", json={"to": "ada@example.com", "subject": "hi"})).json()
        busy = (
            await client.post("/emails", json={"to": "busy@example.com", "subject": "hi"})
        ).json()
        bad = (await client.post("/emails", json={"to": "nobody", "subject": "hi"})).json()
        for job in (ada, busy):
            result = (await client.get(f"/jobs/{job['id']}/result", params={"timeout": 20})).json()
            print(f"    {job['id']}: {result}")
            check("message" in result.get("result", {}), "an email was sent, its result kept")
        status = await client.get(f"/jobs/{busy['id']}")
        check(status.json()["deliveries"] == 2, "the busy address: retried after Retry-After")
        dead = await poll(client, f"/jobs/{bad['id']}", lambda r: r.json().get("state") == "dead")
        print(f"    {bad['id']}: {dead}")
        check("DoNotRetry: not an email address" in (dead["last_error"] or ""),
              "no address: dead-lettered at once, with its error")  # fmt: skip
        again = await client.post("/emails", json={"to": "ada@example.com", "subject": "later"},
                                  headers={"Idempotency-Key": "request-42"})  # fmt: skip
        twice = await client.post("/emails", json={"to": "ada@example.com", "subject": "other"},
                                  headers={"Idempotency-Key": "request-42"})  # fmt: skip
        check(again.status_code == 202 and twice.status_code == 409,
              "one Idempotency-Key, one email (409 the second time)")  # fmt: skip
        wrong = await client.post("/emails", json={"to": "ada@example.com"})
        check(wrong.status_code == 422 and "subject" in wrong.text,
              f"bad arguments refused before queuing: {wrong.json()['error']}")  # fmt: skip

        print("reports: POST /reports, then DELETE /jobs/{id} while it runs")
        report = (await client.post("/reports", json={"seconds": 3600})).json()
        await poll(client, f"/jobs/{report['id']}", lambda r: r.json().get("state") == "locked")
        cancel = await client.delete(f"/jobs/{report['id']}")
        check(cancel.status_code == 200, "a running report cancelled")
        gone = await poll(client, f"/jobs/{report['id']}", lambda r: r.status_code == 404)
        check("no job" in gone["error"], "the cancelled report is gone")

        print("periodic: GET /tally (the mailbox's size, counted every second)")
        tally = await poll(client, "/tally", lambda r: (r.json()["tally"] or 0) >= 3)
        check(tally["tally"] >= 3, f"the periodic tally counts the mailbox: {tally['tally']}")
    return problems


async def reset(url: str) -> None:
    for name in ("emails", "reports"):
        async with RedisJobQueue(name, url=url) as queue:
            await queue.purge()
    db = Redis.from_url(url)
    ticks = [QueueKeys(name).ticks for name in ("emails", "reports")]
    await db.delete("service:mailbox", "service:busy", "service:tally", *ticks)
    await db.aclose()


def run() -> int:
    with ExitStack() as stack:
        url = os.environ.get("REDIS_URL")
        if not url:
            url = stack.enter_context(RedisServer()).url
        logs = Path(tempfile.mkdtemp(prefix="service-logs-"))  # kept, to read afterwards
        asyncio.run(reset(url))
        print(f"Redis: {url}; the app's and the worker's logs: {logs}")
        with service(url, logs) as base:
            print(f"app at {base}, one worker on queues emails and reports")
            problems = asyncio.run(demo(base))
        summary = [line for line in (logs / "worker.log").read_text().splitlines()
                   if " stopped: " in line]  # fmt: skip
        print(f"worker: {summary[-1].split(' stopped: ', 1)[1] if summary else 'no summary'}")
    if problems:
        print(f"FAILED: {problems}")
        return 1
    print("OK: the service queued, ran, retried, dead-lettered, cancelled and ticked as it should")
    return 0


if __name__ == "__main__":
    sys.exit(run())
