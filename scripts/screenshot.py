"""Take the dashboard's screenshots for the README: docs/dashboard.png (the queues page) and
docs/dashboard-dead.png (a queue's dead letters).

    .venv/bin/python scripts/screenshot.py

Starts a throwaway redis-server, fills a few queues with jobs as a small shop's would look,
serves ``aioredisjobqueue web`` on it and shoots the pages in Debian's headless Chromium
while jobs keep coming and going (so the rates show). Needs chromium and chromium-driver.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))

from browser import chromium, dashboard  # noqa: E402
from selenium.webdriver.common.by import By  # noqa: E402
from selenium.webdriver.support.ui import WebDriverWait  # noqa: E402

from aioredisjobqueue import Job, RedisJobQueue, Worker  # noqa: E402
from aioredisjobqueue.testing import RedisServer  # noqa: E402


async def fill(url: str) -> None:
    """Queues with jobs in every state."""
    async with (
        RedisJobQueue("emails", url=url, max_deliveries=3) as emails,
        RedisJobQueue("thumbnails", url=url) as thumbnails,
        RedisJobQueue("webhooks", url=url, max_deliveries=1) as webhooks,
        RedisJobQueue("reports", url=url) as reports,
    ):
        await emails.put_many(
            {"to": f"customer{n}@example.com", "template": "order-shipped", "order": 40_000 + n}
            for n in range(1_284)
        )
        await emails.put_many(
            ({"to": f"trial{n}@example.com", "template": "trial-ends"} for n in range(37)),
            delay=3 * 3600,
        )
        await emails.get_many(10, lock_timeout=600_000)
        await thumbnails.put_many(
            {"image": f"uploads/2026/11/{n:05}.jpg", "sizes": [128, 512, 1024]} for n in range(412)
        )
        await thumbnails.get_many(4, lock_timeout=600_000)
        hooks = [
            {
                "url": f"https://partner{n % 4}.example.net/hooks/orders",
                "event": "order.paid",
                "order": 51_200 + n,
            }
            for n in range(5)
        ]
        await webhooks.put_many(hooks)
        errors = [
            "httpx.ConnectTimeout: timed out after 10 s",
            "HTTPStatusError: 502 Bad Gateway from partner1.example.net",
            "HTTPStatusError: 410 Gone: endpoint removed",
        ]
        for n, job in enumerate(await webhooks.get_many(len(hooks))):
            # max_deliveries=1: dead-lettered with the error it failed with
            await job.release(error=errors[n % len(errors)])
        await webhooks.put_many({"url": "https://crm.example.net/in", "n": n} for n in range(23))
        await reports.put({"report": "monthly-revenue", "month": "2026-11"}, delay=86_400)


def traffic(url: str, stop: threading.Event) -> None:
    """Two workers at work and orders coming in, while the pages are shot."""

    async def resize(job: Job) -> None:
        await asyncio.sleep(0.15)

    async def send(job: Job) -> None:
        await asyncio.sleep(0.05)

    async def run() -> None:
        async with (
            RedisJobQueue("emails", url=url) as emails,
            RedisJobQueue("thumbnails", url=url) as thumbnails,
        ):
            workers = [
                Worker(thumbnails, resize, concurrency=8, heartbeat=0.5),
                Worker(emails, send, concurrency=4, heartbeat=0.5),
            ]
            tasks = [asyncio.create_task(w.run()) for w in workers]
            n = 0
            while not stop.is_set():
                await emails.put_many(
                    {"to": f"new{n + i}@example.com", "template": "welcome"} for i in range(30)
                )
                n += 30
                await asyncio.sleep(0.25)
            for w in workers:
                w.stop()
            await asyncio.gather(*tasks)

    asyncio.run(run())


def main() -> None:
    docs = ROOT / "docs"
    docs.mkdir(exist_ok=True)
    with RedisServer() as server:
        asyncio.run(fill(server.url))
        stop = threading.Event()
        mover = threading.Thread(target=traffic, args=(server.url, stop))
        mover.start()
        try:
            with (
                dashboard(server.url, "--enable-actions", "--refresh", "1") as base,
                chromium(1200, 760) as browser,
            ):
                browser.get(base + "/")
                WebDriverWait(browser, 30).until(
                    lambda d: (
                        "/s" in d.find_element(By.CSS_SELECTOR, "#queues tbody").text
                        and len(d.find_elements(By.CSS_SELECTOR, "#worker-list tbody tr")) == 2
                    )
                )
                time.sleep(3)  # a few seconds of work in the workers' counts
                browser.save_screenshot(str(docs / "dashboard.png"))
                browser.get(base + "/dead/webhooks")
                WebDriverWait(browser, 30).until(
                    lambda d: len(d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-id]")) == 5
                )
                browser.save_screenshot(str(docs / "dashboard-dead.png"))
        finally:
            stop.set()
            mover.join()
    print(f"wrote {docs / 'dashboard.png'} and {docs / 'dashboard-dead.png'}")


if __name__ == "__main__":
    main()
