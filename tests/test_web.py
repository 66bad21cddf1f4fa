"""The dashboard's routes (aioredisjobqueue.web), through httpx against the real redis-server.

What the pages show in a browser is tested in test_web_browser.py; here every route answers
what its page's script needs, refuses what it must, and escapes what it echoes.
"""

from __future__ import annotations

import asyncio
import html
import json
import os
import socket
from collections.abc import AsyncIterator, Callable
from typing import Any

import httpx2 as httpx
import pytest
from helpers import eventually
from starlette.applications import Starlette
from starlette.routing import Mount
from starlette.testclient import TestClient
from test_worker import running

from aioredisjobqueue import Job, RedisJobQueue, Tasks, Worker, job_id
from aioredisjobqueue.testing import RedisServer, free_port
from aioredisjobqueue.web import app

pytestmark = pytest.mark.real_redis

ACTION = {"X-AJQ-Action": "1", "Content-Type": "application/json"}
Client = Callable[..., httpx.AsyncClient]


@pytest.fixture
async def client(real_queue: RedisJobQueue) -> AsyncIterator[Client]:
    """``client(**app_kwargs)``: an httpx client on a dashboard over the test's Redis."""
    made: list[httpx.AsyncClient] = []

    def make(**kwargs: Any) -> httpx.AsyncClient:
        dashboard = app(redis=real_queue.redis, **kwargs)
        transport = httpx.ASGITransport(app=dashboard)
        made.append(httpx.AsyncClient(transport=transport, base_url="http://dashboard"))
        return made[-1]

    yield make
    for c in made:
        await c.aclose()


async def dead_letters(queue: RedisJobQueue, *payloads: Any) -> list[str]:
    """Put ``payloads`` and dead-letter each (released after its one delivery, the n-th
    with the error ``ValueError: boom n``)."""
    async with RedisJobQueue(queue.name, redis=queue.redis, max_deliveries=1) as dying:
        ids = [await dying.put(p) for p in payloads]
        for n in range(len(payloads)):
            job = await dying.get()
            assert job is not None
            await job.release(error=f"ValueError: boom {n}")
    return ids


# -- pages -----------------------------------------------------------------------------


async def test_every_page_is_html_with_a_strict_content_security_policy(
    client: Client, real_queue: RedisJobQueue
) -> None:
    jid = await real_queue.put({"to": "ada@example.com"})
    c = client()
    name = real_queue.name
    for path, page in [
        ("/", "queues"),
        (f"/queue/{name}", "queue"),
        (f"/dead/{name}", "dead"),
        (f"/job/{name}?id={jid}", "job"),
    ]:
        response = await c.get(path)
        assert response.status_code == 200, path
        assert response.headers["content-type"].startswith("text/html")
        assert f'data-page="{page}"' in response.text
        csp = response.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert response.headers["x-content-type-options"] == "nosniff"
        assert '<script src="/static/app.js" defer></script>' in response.text


async def test_static_files_are_served_from_the_package(client: Client) -> None:
    c = client()
    script = await c.get("/static/app.js")
    assert script.status_code == 200
    assert "javascript" in script.headers["content-type"]
    assert "X-AJQ-Action" in script.text
    style = await c.get("/static/style.css")
    assert style.status_code == 200 and style.headers["content-type"].startswith("text/css")


async def test_a_page_of_an_unknown_queue_is_a_404_page(client: Client, queue_name: str) -> None:
    response = await client().get(f"/queue/{queue_name}")
    assert response.status_code == 404
    assert f"no queue {html.escape(repr(queue_name))}: nothing was ever put in it" in response.text


async def test_a_page_of_a_bad_queue_name_is_a_400_page(client: Client) -> None:
    response = await client().get("/dead/a{b}")
    assert response.status_code == 400
    assert "queue_name must not contain" in response.text


async def test_the_job_page_of_a_bad_id_is_a_400_page(
    client: Client, real_queue: RedisJobQueue
) -> None:
    await real_queue.put(1)
    response = await client().get(f"/job/{real_queue.name}?id=<b>x</b>")
    assert response.status_code == 400
    assert (
        "id must be a job id (24 hex digits), got &#x27;&lt;b&gt;x&lt;/b&gt;&#x27;" in response.text
    )


async def test_queue_names_are_escaped_in_pages(client: Client, redis_server: RedisServer) -> None:
    name = '<script>alert("x")</script>&"'
    async with RedisJobQueue(name, url=redis_server.url) as queue:
        await queue.put(1)
        async with httpx.AsyncClient(
            transport=httpx.ASGITransport(app=app(redis=queue.redis)), base_url="http://d"
        ) as c:
            response = await c.get("/queue/" + httpx.URL(path=name).raw_path.decode())
        await queue.purge()
    assert response.status_code == 200
    assert "<script>alert" not in response.text
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;&quot;" in response.text
    # links to the queue carry the name percent-encoded
    assert 'href="/dead/%3Cscript%3Ealert%28%22x%22%29%3C%2Fscript%3E%26%22"' in response.text


async def test_mounted_under_a_prefix_the_pages_link_under_it(real_queue: RedisJobQueue) -> None:
    await real_queue.put(1)
    outer = Starlette(routes=[Mount("/jobs", app=app(redis=real_queue.redis))])
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app=outer), base_url="http://site"
    ) as c:
        page = await c.get(f"/jobs/queue/{real_queue.name}")
        assert page.status_code == 200
        assert 'data-root="/jobs"' in page.text
        assert 'href="/jobs/static/style.css"' in page.text
        assert (await c.get("/jobs/static/app.js")).status_code == 200
        counts = (await c.get("/jobs/api/queues")).json()
        assert {"name": real_queue.name, "ready": 1} in [
            {"name": q["name"], "ready": q["ready"]} for q in counts["queues"]
        ]


# -- the JSON the pages poll -------------------------------------------------------------


async def test_api_queues_counts_every_state(client: Client, real_queue: RedisJobQueue) -> None:
    await real_queue.put("ready")
    await real_queue.put("later", delay=60)
    await real_queue.put("taken")
    assert await real_queue.get(lock_timeout=60_000) is not None
    await dead_letters(real_queue, "dead")
    data = (await client(queues=[real_queue.name]).get("/api/queues")).json()
    assert data["queues"] == [
        {
            "name": real_queue.name,
            "ready": 1,
            "locked": 1,
            "delayed": 1,
            "dead": 1,
            "total": 4,
            "workers": 0,
        }
    ]
    assert data["workers"] == []
    assert data["actions"] is False


async def test_api_queues_lists_each_live_worker_once(
    client: Client, real_queue: RedisJobQueue
) -> None:
    other = real_queue.name + "-other"
    async with RedisJobQueue(other, redis=real_queue.redis) as second:
        await real_queue.put("slow")
        await second.put(1)
        release = asyncio.Event()

        async def handle(job: Job) -> None:
            if job.payload == "slow":
                await release.wait()

        worker = Worker([real_queue, second], handle, concurrency=3, heartbeat=0.2)
        c = client(queues=[real_queue.name, other])

        async def reported() -> Any:
            data = (await c.get("/api/queues")).json()
            done = data["workers"] and data["workers"][0]["counts"].get("complete") == 1
            return data if done and data["workers"][0]["running"] == 1 else None

        async with running(worker):
            data = await eventually(reported)
            release.set()
        await second.purge()
    assert [q["workers"] for q in data["queues"]] == [1, 1]
    (info,) = data["workers"]
    assert info["id"] == worker.id
    assert (info["host"], info["pid"]) == (socket.gethostname(), os.getpid())
    assert sorted(info["queues"]) == [real_queue.name, other]
    assert (info["concurrency"], info["stopping"]) == (3, False)
    assert info["beat_at"] <= data["now"] + 1


async def test_api_queues_lists_every_queue_unless_limited(
    client: Client, real_queue: RedisJobQueue
) -> None:
    other = real_queue.name + "-other"
    async with RedisJobQueue(other, redis=real_queue.redis) as queue:
        await queue.put(1)
        await real_queue.put(1)
        every = [q["name"] for q in (await client().get("/api/queues")).json()["queues"]]
        assert real_queue.name in every and other in every
        assert every == sorted(every)
        limited = client(queues=[other])
        assert [q["name"] for q in (await limited.get("/api/queues")).json()["queues"]] == [other]
        hidden = await limited.get(f"/api/jobs/{real_queue.name}")
        assert hidden.status_code == 404
        assert "not one of the queues this dashboard shows" in hidden.json()["error"]
        await queue.purge()


async def test_api_jobs_pages_through_ready_jobs_in_due_order(
    client: Client, real_queue: RedisJobQueue
) -> None:
    ids = [i for i in await real_queue.put_many([{"n": n} for n in range(120)]) if i]
    c = client()
    first = (await c.get(f"/api/jobs/{real_queue.name}?state=ready&count=50")).json()
    last = (await c.get(f"/api/jobs/{real_queue.name}?state=ready&start=100&count=50")).json()
    assert (first["total"], first["start"], first["count"]) == (120, 0, 50)
    assert [j["id"] for j in first["jobs"]] == ids[:50]
    assert [j["id"] for j in last["jobs"]] == ids[100:]
    assert last["jobs"][0]["preview"] == '{"n":100}'
    assert last["jobs"][0]["deliveries"] == 0
    assert first["counts"] == {"ready": 120, "locked": 0, "delayed": 0, "dead": 0, "total": 120}
    beyond = (await c.get(f"/api/jobs/{real_queue.name}?state=ready&start=500")).json()
    assert (beyond["total"], beyond["jobs"]) == (120, [])


async def test_api_jobs_splits_waiting_jobs_into_ready_and_delayed_and_shows_locks(
    client: Client, real_queue: RedisJobQueue
) -> None:
    now_id = await real_queue.put("now")
    later_id = await real_queue.put("later", delay=3600)
    taken_id = await real_queue.put("taken")
    await real_queue.put("now too")
    job = await real_queue.get(lock_timeout=60_000)
    assert job is not None and job.id == now_id
    c = client()

    async def listed(state: str) -> dict[str, Any]:
        response = await c.get(f"/api/jobs/{real_queue.name}?state={state}")
        assert response.status_code == 200
        data: dict[str, Any] = response.json()
        return data

    ready, delayed, locked = [await listed(s) for s in ("ready", "delayed", "locked")]
    assert [j["id"] for j in ready["jobs"]] == [taken_id, job_id("now too")]
    assert [j["preview"] for j in delayed["jobs"]] == ['"later"']
    assert delayed["jobs"][0]["id"] == later_id
    assert 3500 < delayed["jobs"][0]["at"] - delayed["now"] <= 3600
    assert [(j["id"], j["deliveries"]) for j in locked["jobs"]] == [(now_id, 1)]
    assert 50 < locked["jobs"][0]["at"] - locked["now"] <= 60


async def test_api_jobs_cuts_long_payloads_to_a_preview(
    client: Client, real_queue: RedisJobQueue
) -> None:
    jid = await real_queue.put({"text": "x" * 5000})
    data = (await client().get(f"/api/jobs/{real_queue.name}")).json()
    (job,) = data["jobs"]
    assert job["truncated"] is True and job["payload_bytes"] == 5011
    assert job["preview"] == ('{"text":"' + "x" * 5000)[:300]
    full = (await client().get(f"/api/job/{real_queue.name}?id={jid}")).json()
    assert json.loads(full["payload"]) == {"text": "x" * 5000}


async def test_api_jobs_lists_dead_letters_oldest_first(
    client: Client, real_queue: RedisJobQueue
) -> None:
    ids = await dead_letters(real_queue, "first", "second")
    data = (await client().get(f"/api/jobs/{real_queue.name}?state=dead")).json()
    assert [(j["id"], j["deliveries"], j["error"]) for j in data["jobs"]] == [
        (ids[0], 1, "ValueError: boom 0"),
        (ids[1], 1, "ValueError: boom 1"),
    ]
    assert data["total"] == 2
    assert all(j["at"] <= data["now"] for j in data["jobs"])


async def test_api_jobs_names_the_task_of_typed_tasks_jobs(
    client: Client, real_queue: RedisJobQueue
) -> None:
    tasks = Tasks()

    @tasks.task()
    async def send_email(to: str, body: str = "") -> None:
        pass

    long_id = await send_email.put(real_queue, to="ada@example.com", body="x" * 5000)
    short_id = await send_email.put(real_queue, to="bob@example.com")
    tick_id = await real_queue.put({"task": "report", "args": {}, "tick": "2026-11-30T05:00"})
    plain_id = await real_queue.put({"args": [1], "task": "not a task's job"})
    quoted_id = await real_queue.put({"args": {}, "task": 'say "hi"'})
    c = client()
    data = (await c.get(f"/api/jobs/{real_queue.name}")).json()
    assert {j["id"]: j["task"] for j in data["jobs"]} == {
        long_id: "send_email",
        short_id: "send_email",
        tick_id: "report",
        plain_id: None,
        quoted_id: None,  # a name the tail cannot read plainly is left out of lists
    }
    job = (await c.get(f"/api/job/{real_queue.name}?id={long_id}")).json()
    assert job["task"] == "send_email"
    quoted = (await c.get(f"/api/job/{real_queue.name}?id={quoted_id}")).json()
    assert quoted["task"] == 'say "hi"'


@pytest.mark.parametrize(
    ("query", "message"),
    [
        ("state=sleeping", "state must be one of ready, delayed, locked, dead, got 'sleeping'"),
        ("count=0", "count must be >= 1, got 0"),
        ("count=201", "count must be at most 200, got 201"),
        ("start=-1", "start must be an int >= 0, got -1"),
        ("start=abc", "start must be an integer, got 'abc'"),
    ],
)
async def test_api_jobs_refuses_bad_parameters_naming_them(
    client: Client, real_queue: RedisJobQueue, query: str, message: str
) -> None:
    await real_queue.put(1)
    response = await client().get(f"/api/jobs/{real_queue.name}?{query}")
    assert response.status_code == 400
    assert response.json() == {"error": message}


async def test_api_job_tells_where_a_job_is(client: Client, real_queue: RedisJobQueue) -> None:
    c = client()
    name = real_queue.name

    async def found(jid: str) -> Any:
        response = await c.get(f"/api/job/{name}?id={jid}")
        assert response.status_code == 200
        return response.json()

    ready = await real_queue.put({"b": 2, "a": [1, "é"]})
    job = await found(ready.upper())
    assert job["payload"] == '{\n  "a": [\n    1,\n    "é"\n  ],\n  "b": 2\n}'
    assert (job["state"], job["deliveries"], job["id"]) == ("waiting", 0, ready)
    assert job["due_at"] is None  # due at once: status() does not scan the ready list
    later_id = await real_queue.put("later", delay=60)
    later = await found(later_id)
    assert later["state"] == "delayed" and 50 < later["due_at"] - later["now"] <= 60
    taken = await real_queue.get(lock_timeout=60_000)
    assert taken is not None and taken.id == ready
    assert (await found(ready))["state"] == "locked"
    (dead,) = await dead_letters(real_queue, "dead")
    letter = await found(dead)
    assert (letter["state"], letter["last_error"]) == ("dead", "ValueError: boom 0")
    assert letter["payload"] == '"dead"'
    await taken.complete(result={"sent": True}, result_ttl=60)
    done = await found(taken.id)
    assert (done["state"], done["payload"]) == ("completed", None)
    assert done["result"] == '{\n  "sent": true\n}'
    assert await real_queue.cancel(later_id)
    gone = await found(later_id)
    assert (gone["state"], gone["payload"], gone["result"]) == (None, None, None)


async def test_api_job_refuses_a_bad_id(client: Client, real_queue: RedisJobQueue) -> None:
    await real_queue.put(1)
    response = await client().get(f"/api/job/{real_queue.name}?id=123")
    assert response.status_code == 400
    assert response.json() == {"error": "id must be a job id (24 hex digits), got '123'"}


async def test_api_answers_503_when_redis_is_unreachable() -> None:
    dead_url = f"redis://127.0.0.1:{free_port()}/0"
    with TestClient(app(url=dead_url)) as c:
        response = c.get("/api/queues")
    assert response.status_code == 503
    assert response.json()["error"].startswith("Redis: ")


def test_an_app_on_a_url_serves_and_closes_its_pool(redis_server: RedisServer) -> None:
    with TestClient(app(url=redis_server.url)) as c:
        assert c.get("/api/queues").status_code == 200
        assert c.get("/").status_code == 200


# -- actions ------------------------------------------------------------------------------


async def test_actions_are_refused_unless_enabled(
    client: Client, real_queue: RedisJobQueue
) -> None:
    await dead_letters(real_queue, "dead")
    response = await client().post(f"/api/requeue/{real_queue.name}", json={"all": True})
    assert response.status_code == 403
    assert "actions are off" in response.json()["error"]
    assert (await real_queue.stats()).dead == 1


async def test_actions_need_the_dashboards_header_and_a_post(
    client: Client, real_queue: RedisJobQueue
) -> None:
    await dead_letters(real_queue, "dead")
    c = client(actions=True)
    url = f"/api/delete/{real_queue.name}"
    # what a form on another site can send: no custom header
    form = await c.post(url, data={"all": "true"})
    assert form.status_code == 403 and "X-AJQ-Action" in form.json()["error"]
    cross = await c.post(url, json={"all": True}, headers=ACTION | {"Sec-Fetch-Site": "cross-site"})
    assert cross.status_code == 403
    assert (await c.get(url)).status_code == 405
    assert (await real_queue.stats()).dead == 1


async def test_requeue_one_dead_letter_and_then_all(
    client: Client, real_queue: RedisJobQueue
) -> None:
    _, second, _ = await dead_letters(real_queue, "a", "b", "c")
    c = client(actions=True)
    url = f"/api/requeue/{real_queue.name}"
    response = await c.post(url, content=json.dumps({"ids": [second]}), headers=ACTION)
    assert response.json() == {"requeued": 1}
    assert [w.id for w in await real_queue.peek()] == [second]
    response = await c.post(url, content=json.dumps({"all": True}), headers=ACTION)
    assert response.json() == {"requeued": 2}
    stats = await real_queue.stats()
    assert (stats.ready, stats.dead) == (3, 0)


async def test_delete_one_dead_letter_and_then_all(
    client: Client, real_queue: RedisJobQueue
) -> None:
    first, second, third = await dead_letters(real_queue, "a", "b", "c")
    await real_queue.put("alive")
    c = client(actions=True)
    url = f"/api/delete/{real_queue.name}"
    response = await c.post(url, content=json.dumps({"ids": [first]}), headers=ACTION)
    assert response.json() == {"deleted": 1}
    assert [d.id for d in await real_queue.dead_letters()] == [second, third]
    response = await c.post(url, content=json.dumps({"all": True}), headers=ACTION)
    assert response.json() == {"deleted": 2}
    stats = await real_queue.stats()
    assert (stats.ready, stats.dead, stats.total) == (1, 0, 1)


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ("not json", 'the body must be JSON: {"ids": [...]} or {"all": true}'),
        ('{"ids": []}', 'the body must be {"ids": [ID, ...]} or {"all": true}, got {\'ids\': []}'),
        ('{"all": false}', 'the body must be {"ids": [ID, ...]} or {"all": true}, got'),
        ('{"ids": ["nope"]}', "ids[0] must be a job id (24 hex digits), got 'nope'"),
    ],
)
async def test_actions_refuse_a_bad_body(
    client: Client, real_queue: RedisJobQueue, body: str, message: str
) -> None:
    await dead_letters(real_queue, "dead")
    c = client(actions=True)
    response = await c.post(f"/api/delete/{real_queue.name}", content=body, headers=ACTION)
    assert response.status_code == 400
    assert response.json()["error"].startswith(message)
    assert (await real_queue.stats()).dead == 1


# -- app() ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({}, ValueError, "app() takes one way to reach Redis: url= or redis="),
        ({"url": "redis://x", "redis": object()}, ValueError, "one way to reach Redis"),
        ({"url": "redis://x", "queues": "emails"}, TypeError, "queues must be a sequence"),
        ({"url": "redis://x", "queues": ["a{b"]}, ValueError, "must not contain"),
        ({"url": "redis://x", "actions": "yes"}, TypeError, "actions must be True or False"),
        ({"url": "redis://x", "refresh": 0}, ValueError, "refresh must be a positive number"),
    ],
)
def test_app_refuses_bad_arguments(kwargs: dict[str, Any], error: type, message: str) -> None:
    with pytest.raises(error) as caught:
        app(**kwargs)
    assert message in str(caught.value)


async def test_api_jobs_pages_through_a_sharded_queue_shard_after_shard(
    client: Client, make_real_queue: Any, queue_name: str
) -> None:
    sharded = make_real_queue(f"{queue_name}-sharded", shards=3)
    ids = {i for i in await sharded.put_many([{"n": n} for n in range(30)]) if i}
    c = client()
    first = (await c.get(f"/api/jobs/{sharded.name}?state=ready&count=20")).json()
    rest = (await c.get(f"/api/jobs/{sharded.name}?state=ready&start=20&count=50")).json()
    assert (first["total"], len(first["jobs"]), len(rest["jobs"])) == (30, 20, 10)
    assert {j["id"] for j in first["jobs"] + rest["jobs"]} == ids
    assert first["counts"]["ready"] == 30
    overview = (await c.get("/api/queues")).json()
    assert [q["name"] for q in overview["queues"]].count(sharded.name) == 1
