"""The worker side of the example service: typed tasks, a lifespan, a periodic job.

Run by the command line, as a deploy would:

    aioredisjobqueue worker tasks:tasks --queue emails --queue reports --lifespan tasks:lifespan

``send_email`` posts to a mail provider's HTTP API (here the app's own ``/mailbox``, at
``$MAIL_API``) with the lifespan's ``httpx`` client: an address without "@" cannot succeed
(``DoNotRetry``: dead-lettered at once), a 429 answer is retried after its ``Retry-After``
(``RetryAfter``). ``build_report`` is slow, to be cancelled while it runs. ``tally`` runs
every second on whichever worker gets its tick, and records the mailbox's size.
"""

from __future__ import annotations

import asyncio
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any

import httpx
from redis.asyncio import Redis

from aioredisjobqueue import DoNotRetry, RetryAfter, Tasks, worker_state

TALLY = "service:tally"

tasks = Tasks()


@dataclass
class Resources:
    """What every task reaches with ``worker_state(Resources)``."""

    http: httpx.AsyncClient  # to the mail provider
    db: Redis  # the service's own records


@asynccontextmanager
async def lifespan(url: str) -> AsyncIterator[Resources]:
    """Opened once before the worker's first job, closed after its last; ``url`` is the
    worker's Redis URL (its ``--url``)."""
    async with httpx.AsyncClient(base_url=os.environ["MAIL_API"], timeout=10) as http:
        db = Redis.from_url(url)
        try:
            yield Resources(http=http, db=db)
        finally:
            await db.aclose()


@tasks.task(max_deliveries=3, retry_delay=0.5, timeout=30)
async def send_email(to: str, subject: str, body: str = "") -> dict[str, Any]:
    """Send one email through the provider; the result is the provider's answer."""
    if "@" not in to:
        raise DoNotRetry(f"not an email address: {to!r}")
    http = worker_state(Resources).http
    response = await http.post("/mailbox", json={"to": to, "subject": subject, "body": body})
    if response.status_code == 429:
        raise RetryAfter(float(response.headers.get("retry-after", "1")), "mail provider busy")
    response.raise_for_status()
    answer: dict[str, Any] = response.json()
    return answer


@tasks.task(timeout=3600)
async def build_report(seconds: float) -> str:
    """A long job: what a user may want to cancel while it runs."""
    await asyncio.sleep(seconds)
    return f"report built in {seconds:g} s"


@tasks.task(every=1, result_ttl=10)
async def tally() -> int:
    """Every second: how many emails the mailbox holds, recorded for the app's /tally."""
    resources = worker_state(Resources)
    count: int = (await resources.http.get("/mailbox")).json()["count"]
    await resources.db.set(TALLY, count)
    return count
