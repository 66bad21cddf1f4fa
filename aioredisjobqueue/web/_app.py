"""The dashboard's routes: HTML pages, the JSON their script polls, and the two actions.

Pages are static templates that the script in ``static/app.js`` fills from the JSON API,
setting every value as text (never as HTML), so payloads, queue names and errors cannot
inject markup; the only values put into HTML on the server are escaped. A Content Security
Policy allows no inline script at all.

Actions (requeue, delete dead letters) are POST only, answer 403 unless the app was made
with ``actions=True``, and refuse requests without the header ``X-AJQ-Action: 1`` that the
page's script sends: a browser sends no custom header across origins without a CORS
preflight, which this app never grants, so another site cannot post them (CSRF).
"""

from __future__ import annotations

import contextlib
import html
import json
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from functools import cache
from importlib import resources
from string import Template
from typing import Any
from urllib.parse import quote

from redis.exceptions import RedisError
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import HTMLResponse, JSONResponse, Response
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from .. import _args
from .._client import client_for, close_client
from .._keys import validate_queue_name
from .._queue import RedisJobQueue
from ._read import NoSuchQueue, Reader

__all__ = ["ACTION_HEADER", "app"]

ACTION_HEADER = "X-AJQ-Action"
DEFAULT_PAGE = 50

_SECURITY_HEADERS = [
    (
        b"content-security-policy",
        b"default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self'; "
        b"connect-src 'self'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'",
    ),
    (b"x-content-type-options", b"nosniff"),
    (b"referrer-policy", b"same-origin"),
    (b"x-frame-options", b"DENY"),
    (b"cache-control", b"no-store"),
]


class _SecurityHeaders:
    """Adds the security headers above to every HTTP response of the wrapped app."""

    def __init__(self, inner: ASGIApp) -> None:
        self.inner = inner

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.inner(scope, receive, send)
            return

        async def with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                message["headers"] = [*message.get("headers", []), *_SECURITY_HEADERS]
            await send(message)

        await self.inner(scope, receive, with_headers)


@cache
def _template(name: str) -> Template:
    text = resources.files(__package__).joinpath("templates", name).read_text("utf-8")
    return Template(text)


def _error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


def _int_param(request: Request, name: str, default: int) -> int:
    raw = request.query_params.get(name)
    if raw is None:
        return default
    try:
        return int(raw)
    except ValueError:
        raise ValueError(f"{name} must be an integer, got {raw!r}") from None


def app(
    *,
    url: str | None = None,
    redis: Any | None = None,
    queues: Sequence[str] | None = None,
    actions: bool = False,
    refresh: float = 2.0,
) -> Starlette:
    """The dashboard as an ASGI app (Starlette), to serve or mount in your own app.

    Reach Redis by ``url`` (a pool of the app's own, closed at the app's shutdown; a mounted
    app gets no shutdown of its own) or hand over a ``redis.asyncio`` client as ``redis``
    (never closed by the app). ``queues`` limits the dashboard to these queue names
    (default: every queue in the database). ``actions=True`` enables the buttons that
    requeue and delete dead letters: leave it off unless the app is behind your own
    authentication. Pages refresh their figures every ``refresh`` seconds.

    Raises ``ValueError``/``TypeError`` for bad arguments, before anything reaches Redis.
    """
    if (url is None) == (redis is None):
        raise ValueError("app() takes one way to reach Redis: url= or redis=")
    if queues is not None:
        if isinstance(queues, str):
            raise TypeError(f"queues must be a sequence of queue names, got {queues!r}")
        queues = [validate_queue_name(q) for q in queues]
    if not isinstance(actions, bool):
        raise TypeError(f"actions must be True or False, got {actions!r}")
    refresh = _args.positive_seconds(refresh, "refresh")
    made = client_for(
        redis_host=None, redis_port=None, redis_db=None, url=url, redis=redis, max_connections=8
    )
    dashboard = _Dashboard(made.redis, made.owned, Reader(made.redis, queues), actions, refresh)
    starlette = Starlette(
        routes=dashboard.routes(),
        lifespan=dashboard.lifespan,
        exception_handlers={
            ValueError: _bad_request,
            NoSuchQueue: _not_found,
            RedisError: _redis_failed,
        },
    )
    starlette.add_middleware(_SecurityHeaders)
    return starlette


Endpoint = Callable[[Request], Awaitable[Response]]


class _Dashboard:
    """The endpoints of one dashboard, over one client and its ``Reader``."""

    def __init__(
        self, client: Any, owned: bool, reader: Reader, actions: bool, refresh: float
    ) -> None:
        self.client, self.owned, self.reader, self.actions = client, owned, reader, actions
        self.settings = {"actions": "on" if actions else "off", "refresh": str(refresh)}

    def routes(self) -> list[Route | Mount]:
        return [
            Route("/", self.queues_page),
            Route("/queue/{name:path}", self.queue_page("queue.html", "Queue")),
            Route("/dead/{name:path}", self.queue_page("dead.html", "Dead letters of")),
            Route("/job/{name:path}", self.queue_page("job.html", "Job in")),
            Route("/api/queues", self.api_queues),
            Route("/api/jobs/{name:path}", self.api_jobs),
            Route("/api/job/{name:path}", self.api_job),
            Route("/api/requeue/{name:path}", self.action(_requeue, "requeued"), methods=["POST"]),
            Route("/api/delete/{name:path}", self.action(_delete, "deleted"), methods=["POST"]),
            Mount("/static", StaticFiles(packages=[(__package__, "static")]), name="static"),
        ]

    @contextlib.asynccontextmanager
    async def lifespan(self, _: Starlette) -> AsyncIterator[None]:
        yield
        if self.owned:
            await close_client(self.client)

    def page(
        self, name: str, title: str, request: Request, status: int = 200, **values: str
    ) -> HTMLResponse:
        """The template ``name`` in the layout; every value put in is HTML-escaped."""
        root = request.scope.get("root_path", "").rstrip("/")
        queue = values.get("queue", "")
        fields = {"queue": "", "job": "", "message": "", **values, **self.settings}
        fields |= {"root": root, "title": title, "queue_url": quote(queue, safe="")}
        escaped = {k: html.escape(v, quote=True) for k, v in fields.items()}
        content = _template(name).substitute(escaped)
        page_name = name.removesuffix(".html")
        body = _template("layout.html").substitute(escaped, page=page_name, content=content)
        return HTMLResponse(body, status_code=status)

    async def queues_page(self, request: Request) -> Response:
        return self.page("queues.html", "Queues", request)

    def queue_page(self, template: str, title: str) -> Endpoint:
        """The page ``template`` of one queue: a 400 or 404 page for a bad or unknown one."""

        async def endpoint(request: Request) -> Response:
            name = request.path_params["name"]
            job = request.query_params.get("id", "")
            try:
                await self.reader.queue(name)
                if template == "job.html":
                    job = _args.job_id(job, "id")
            except ValueError as exc:
                return self.page("missing.html", "Bad request", request, 400, message=str(exc))
            except NoSuchQueue as exc:
                return self.page("missing.html", "No such queue", request, 404, message=str(exc))
            return self.page(template, f"{title} {name}", request, queue=name, job=job)

        return endpoint

    async def api_queues(self, request: Request) -> Response:
        return JSONResponse(await self.reader.overview() | {"actions": self.actions})

    async def api_jobs(self, request: Request) -> Response:
        start = _int_param(request, "start", 0)
        count = _int_param(request, "count", DEFAULT_PAGE)
        state = request.query_params.get("state", "ready")
        found = await self.reader.jobs(request.path_params["name"], state, start, count)
        return JSONResponse(found | {"actions": self.actions})

    async def api_job(self, request: Request) -> Response:
        job_id = request.query_params.get("id", "")
        found = await self.reader.job(request.path_params["name"], job_id)
        return JSONResponse(found | {"actions": self.actions})

    def action(
        self, act: Callable[[RedisJobQueue, list[str] | None], Awaitable[int]], done: str
    ) -> Endpoint:
        """An action's endpoint: refused unless enabled and posted by the dashboard's page."""

        async def endpoint(request: Request) -> Response:
            if not self.actions:
                return _error(403, "actions are off: start the dashboard with --enable-actions")
            if request.headers.get(ACTION_HEADER) != "1":
                return _error(403, f"refused: actions need the header {ACTION_HEADER}: 1")
            if request.headers.get("sec-fetch-site", "same-origin") != "same-origin":
                return _error(403, "refused: actions are taken from the dashboard's own pages")
            ids = _action_ids(await request.body())
            queue = await self.reader.queue(request.path_params["name"])
            return JSONResponse({done: await act(queue, ids)})

        return endpoint


async def _requeue(queue: RedisJobQueue, ids: list[str] | None) -> int:
    return await queue.requeue_dead(ids)


async def _delete(queue: RedisJobQueue, ids: list[str] | None) -> int:
    return await queue.delete_dead(ids)


async def _bad_request(request: Request, exc: Exception) -> Response:
    return _error(400, str(exc))


async def _not_found(request: Request, exc: Exception) -> Response:
    return _error(404, str(exc))


async def _redis_failed(request: Request, exc: Exception) -> Response:
    return _error(503, f"Redis: {exc}")


def _action_ids(body: bytes) -> list[str] | None:
    """The job ids of an action's JSON body ``{"ids": [...]}``, or None for ``{"all": true}``."""
    try:
        request = json.loads(body or b"null")
    except ValueError:
        raise ValueError('the body must be JSON: {"ids": [...]} or {"all": true}') from None
    if request == {"all": True}:
        return None
    ids = request.get("ids") if isinstance(request, dict) and len(request) == 1 else None
    if not isinstance(ids, list) or not ids:
        raise ValueError(
            f'the body must be {{"ids": [ID, ...]}} or {{"all": true}}, got {request!r}'
        )
    return [_args.job_id(i, f"ids[{n}]") for n, i in enumerate(ids)]
