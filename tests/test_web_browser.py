"""The dashboard in a real browser: Debian's headless Chromium driven by Selenium, against
``aioredisjobqueue web`` serving the session's real redis-server.

scripts/setup.sh installs chromium and chromium-driver where these tests run (always in CI:
there a missing browser fails the tests instead of skipping them).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import threading
from collections.abc import Callable, Iterator
from typing import Any, TypeVar

import pytest
from browser import chromium, dashboard, have_chromium
from selenium.common.exceptions import StaleElementReferenceException
from selenium.webdriver.common.by import By
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.support.ui import WebDriverWait

from aioredisjobqueue import Job, RedisJobQueue, Tasks, Worker
from aioredisjobqueue.testing import RedisServer

pytestmark = [
    pytest.mark.real_redis,
    pytest.mark.skipif(
        not have_chromium() and not os.environ.get("CI"),
        reason="Debian's chromium and chromium-driver are not installed "
        "(AJQ_BROWSER_TESTS=1 bash scripts/setup.sh installs them)",
    ),
]

T = TypeVar("T")
XSS = '<img src=x onerror="window.xss=1"><script>window.xss=1</script>'


@pytest.fixture(scope="module")
def base(redis_server: RedisServer) -> Iterator[str]:
    """The dashboard's URL, actions on, figures refreshed 4 times a second."""
    with dashboard(redis_server.url, "--enable-actions", "--refresh", "0.25") as url:
        yield url


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    with chromium() as driver:
        yield driver


def wait(driver: WebDriver, what: Callable[[WebDriver], T], seconds: float = 60) -> T:
    """What ``what`` returns once it is truthy; rows redrawn under it are looked at again."""
    return WebDriverWait(
        driver, seconds, ignored_exceptions=[StaleElementReferenceException]
    ).until(what)


def click(driver: WebDriver, by: str, value: str) -> None:
    """Click the element found by ``by`` and ``value``, found again if redrawn meanwhile."""

    def clicked(d: WebDriver) -> bool:
        d.find_element(by, value).click()
        return True

    wait(driver, clicked)


def run(action: Callable[[RedisJobQueue], Any], url: str, name: str, **kwargs: Any) -> Any:
    async def main() -> Any:
        async with RedisJobQueue(name, url=url, **kwargs) as queue:
            return await action(queue)

    return asyncio.run(main())


def cell(driver: WebDriver, name: str, count: str) -> str:
    """The text of the ``count`` column in the row of queue ``name`` ('' if no row yet)."""
    rows = driver.find_elements(By.CSS_SELECTOR, "#queues tbody tr[data-queue]")
    for row in rows:
        if row.get_attribute("data-queue") == name:
            return row.find_element(By.CSS_SELECTOR, f'[data-count="{count}"]').text
    return ""


@contextlib.contextmanager
def worker_thread(url: str, name: str) -> Iterator[Worker]:
    """A Worker completing the jobs of queue ``name``, in a thread of its own."""
    started = threading.Event()
    made: dict[str, Any] = {}

    async def complete(job: Job) -> None:
        pass

    async def main() -> None:
        async with RedisJobQueue(name, url=url) as queue:
            made["worker"] = Worker(queue, complete, concurrency=20, heartbeat=1.0)
            made["loop"] = asyncio.get_running_loop()
            started.set()
            await made["worker"].run()

    thread = threading.Thread(target=asyncio.run, args=(main(),))
    thread.start()
    assert started.wait(30)
    try:
        yield made["worker"]
    finally:
        made["loop"].call_soon_threadsafe(made["worker"].stop)
        thread.join(30)
        assert not thread.is_alive()


def test_the_queues_page_shows_jobs_and_workers_as_they_come_without_reloading(
    browser: WebDriver, base: str, redis_server: RedisServer, queue_name: str
) -> None:
    url = redis_server.url
    run(lambda q: q.put({"n": 0}), url, queue_name)
    browser.get(base + "/")
    wait(browser, lambda d: cell(d, queue_name, "ready") == "1")
    wait(browser, lambda d: cell(d, queue_name, "workers") == "0")
    browser.execute_script("window.sameDocument = true")

    run(lambda q: q.put_many([{"n": n} for n in range(1, 1235)]), url, queue_name)
    wait(browser, lambda d: cell(d, queue_name, "ready") == "1,235")
    run(lambda q: q.put({"later": 1}, delay=600), url, queue_name)
    wait(browser, lambda d: cell(d, queue_name, "delayed") == "1")
    wait(browser, lambda d: cell(d, queue_name, "total") == "1,236")
    assert browser.execute_script("return window.sameDocument") is True  # never reloaded
    assert "live" in browser.find_element(By.ID, "live").text

    # the queue's own page lists its jobs, a page at a time
    click(browser, By.LINK_TEXT, queue_name)
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-id]")) == 50)
    pager = "#pager .range"  # redrawn at each update: read inside waits
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, pager).text == "1\u201350 of 1,235")
    first = browser.find_element(By.CSS_SELECTOR, "#jobs tbody tr[data-id] .preview").text
    assert first == '{"n":0}'
    click(browser, By.LINK_TEXT, "Delayed")
    wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, "#jobs tbody .preview").text)
    assert browser.find_element(By.CSS_SELECTOR, "#jobs tbody .preview").text == '{"later":1}'
    assert browser.find_element(By.CSS_SELECTOR, "#jobs tbody time").text == "in 10 min"

    # a worker drains the queue: it shows up, the counts fall, it goes when it stops
    browser.get(base + "/")
    wait(browser, lambda d: cell(d, queue_name, "ready") == "1,235")
    browser.execute_script("window.sameDocument = true")
    with worker_thread(url, queue_name) as worker:
        wait(browser, lambda d: cell(d, queue_name, "workers") == "1")
        wait(browser, lambda d: cell(d, queue_name, "ready") == "0")
        row = f'#worker-list tr[data-worker="{worker.id}"]'
        done = f'{row} [data-count="complete"]'
        wait(browser, lambda d: d.find_element(By.CSS_SELECTOR, done).text == "1,235")
        # the panel is redrawn at each update: read the row inside a wait, found afresh
        wait(browser, lambda d: queue_name in d.find_element(By.CSS_SELECTOR, row).text)
    wait(browser, lambda d: cell(d, queue_name, "workers") == "0")
    wait(browser, lambda d: d.find_element(By.ID, "workers").text == "No live workers.")
    assert browser.execute_script("return window.sameDocument") is True


def test_a_dead_letter_is_requeued_from_the_dead_letters_page(
    browser: WebDriver, base: str, redis_server: RedisServer, queue_name: str
) -> None:
    async def dead_letters(queue: RedisJobQueue) -> list[str]:
        ids = [await queue.put({"to": "ada@example.com"}), await queue.put({"html": XSS})]
        for _ in ids:
            job = await queue.get()
            assert job is not None
            await job.release(error=f"SMTPError: 550 <b>{job.id}</b> rejected")
        return ids

    keep, requeue = run(dead_letters, redis_server.url, queue_name, max_deliveries=1)
    browser.get(f"{base}/dead/{queue_name}")
    rows = "#jobs tbody tr[data-id]"
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 2)
    assert browser.find_element(By.ID, "summary").text == "2 dead letters, oldest first"

    # the payload shows as text: none of its markup ran or became elements
    row = browser.find_element(By.CSS_SELECTOR, f'{rows}[data-id="{requeue}"]')
    assert (
        row.find_element(By.CSS_SELECTOR, ".preview").text
        == '{"html":"' + XSS.replace('"', '\\"') + '"}'
    )
    assert (
        row.find_element(By.CSS_SELECTOR, ".error").text
        == f"SMTPError: 550 <b>{requeue}</b> rejected"
    )
    assert browser.find_elements(By.CSS_SELECTOR, "#jobs img, #jobs tbody script, #jobs b") == []
    assert browser.execute_script("return window.xss") is None

    row.find_element(By.XPATH, ".//button[text()='Requeue']").click()
    wait(browser, lambda d: d.find_element(By.ID, "flash").text == "Requeued 1 job.")
    wait(browser, lambda d: len(d.find_elements(By.CSS_SELECTOR, rows)) == 1)
    assert browser.find_element(By.CSS_SELECTOR, rows).get_attribute("data-id") == keep
    assert browser.find_element(By.ID, "summary").text == "1 dead letter, oldest first"

    waiting = run(lambda q: q.peek(), redis_server.url, queue_name)
    assert [(w.id, w.payload) for w in waiting] == [(requeue, {"html": XSS})]
    stats = run(lambda q: q.stats(), redis_server.url, queue_name)
    assert (stats.ready, stats.dead) == (1, 1)

    # the requeued job's own page says where it is now
    browser.get(f"{base}/job/{queue_name}?id={requeue}")
    wait(browser, lambda d: d.find_element(By.ID, "state").text == "waiting")
    assert '"html": "<img src=x' in browser.find_element(By.ID, "payload").text
    assert browser.execute_script("return window.xss") is None
    run(lambda q: q.purge(), redis_server.url, queue_name)


def test_the_queue_page_shows_the_task_of_typed_tasks_jobs(
    browser: WebDriver, base: str, redis_server: RedisServer, queue_name: str
) -> None:
    tasks = Tasks()

    @tasks.task()
    async def send_email(to: str) -> None:
        pass

    run(lambda q: q.put({"plain": True}), redis_server.url, queue_name)
    browser.get(f"{base}/queue/{queue_name}")
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, "#jobs tbody tr[data-id]"))
    assert not browser.find_element(By.CSS_SELECTOR, "#jobs th.task").is_displayed()

    jid = run(lambda q: send_email.put(q, to="ada@example.com"), redis_server.url, queue_name)
    cell = f'#jobs tbody tr[data-id="{jid}"] td.task'
    wait(browser, lambda d: d.find_elements(By.CSS_SELECTOR, cell))
    assert browser.find_element(By.CSS_SELECTOR, cell).text == "send_email"
    assert browser.find_element(By.CSS_SELECTOR, "#jobs th.task").is_displayed()
    run(lambda q: q.purge(), redis_server.url, queue_name)
