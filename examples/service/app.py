"""The web side of the example service: a Starlette app that queues typed tasks.

    REDIS_URL=redis://localhost:6379/0 uvicorn app:app

    POST   /emails           {"to", "subject", "body"?}  -> 202 {"id"}  (Idempotency-Key header
                                                          makes the key the job's identity:
                                                          409 while it is queued or running,
                                                          and once done while its result
                                                          or dead letter is kept)
    POST   /reports          {"seconds"}                  -> 202 {"id"}
    GET    /jobs/{id}        where the job is: state, deliveries, last error, result
    GET    /jobs/{id}/result?timeout=S                    -> waits for the result
    DELETE /jobs/{id}        cancel: waiting, delayed or dead at once; running: revoked
    GET    /tally            the periodic job's last count of the mailbox

It also plays the mail provider the worker posts to (``/mailbox``): it answers 429 once to
an address starting with "busy", so the worker retries after the ``Retry-After`` it gives.
"""

from __future__ import annotations

import json
import os
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route
from tasks import TALLY, build_report, send_email

from aioredisjobqueue import (
    DeadJobError,
    DuplicateJobError,
    JobNotFoundError,
    RedisJobQueue,
    job_id,
)

URL = os.environ.get("REDIS_URL", "redis://localhost:6379/0")
MAILBOX = "service:mailbox"
BUSY = "service:busy"


@asynccontextmanager
async def lifespan(app: Starlette) -> AsyncIterator[dict[str, Any]]:
    async with (
        RedisJobQueue("emails", url=URL) as emails,
        RedisJobQueue("reports", url=URL) as reports,
    ):
        yield {"emails": emails, "reports": reports}


def queues(request: Request) -> list[RedisJobQueue]:
    return [request.state.emails, request.state.reports]


def error(status: int, message: str, **extra: Any) -> JSONResponse:
    return JSONResponse({"error": message, **extra}, status_code=status)


async def post_email(request: Request) -> JSONResponse:
    body = await request.json()
    task = send_email
    if key := request.headers.get("idempotency-key"):
        task = send_email.with_options(key=key)
        # a put with the key is refused only while its job is queued or running; once the
        # email went, its kept result (or dead letter) still says so, and the job goes from
        # running to completed in one step: asked first, the status refuses a repeat
        # however fast the worker was
        try:
            earlier = await request.state.emails.status(job_id(None, key=key))
        except ValueError as exc:
            return error(422, str(exc))
        if earlier is not None:
            return error(409, f"this email is {earlier.state} already", id=earlier.id)
    try:
        job = await task.put(request.state.emails, **body)
    except TypeError as exc:
        return error(422, str(exc))
    except DuplicateJobError as exc:
        return error(409, "this email is queued already", id=exc.job_id)
    return JSONResponse({"id": job}, status_code=202)


async def post_report(request: Request) -> JSONResponse:
    body = await request.json()
    try:
        job = await build_report.put(request.state.reports, **body)
    except TypeError as exc:
        return error(422, str(exc))
    except DuplicateJobError as exc:
        return error(409, "this report is queued already", id=exc.job_id)
    return JSONResponse({"id": job}, status_code=202)


async def job_status(request: Request) -> JSONResponse:
    job_id = request.path_params["id"]
    try:
        for queue in queues(request):
            status = await queue.status(job_id)
            if status is None:
                continue
            found: dict[str, Any] = {
                "id": status.id, "queue": queue.name, "state": status.state,
                "deliveries": status.deliveries, "last_error": status.last_error,
            }  # fmt: skip
            if status.state == "completed":
                found["result"] = await queue.result(job_id, timeout=5)
            return JSONResponse(found)
    except ValueError as exc:
        return error(400, str(exc))
    return error(404, f"no job {job_id}")


async def job_result(request: Request) -> JSONResponse:
    job_id = request.path_params["id"]
    timeout = float(request.query_params.get("timeout", "10"))
    for queue in queues(request):
        if await queue.status(job_id) is not None:
            try:
                return JSONResponse({"result": await queue.result(job_id, timeout=timeout)})
            except TimeoutError:
                return error(504, f"no result within {timeout:g} s")
            except DeadJobError as exc:
                return error(409, str(exc))
            except JobNotFoundError:
                break
    return error(404, f"no job {job_id}, nor a result of it")


async def cancel_job(request: Request) -> JSONResponse:
    job_id = request.path_params["id"]
    for queue in queues(request):
        if await queue.cancel(job_id):
            return JSONResponse({"cancelled": job_id})
    return error(404, f"no job {job_id}")


async def tally(request: Request) -> JSONResponse:
    value = await request.state.emails.redis.get(TALLY)
    return JSONResponse({"tally": None if value is None else int(value)})


async def mailbox_post(request: Request) -> JSONResponse:
    message = await request.json()
    db = request.state.emails.redis
    if message["to"].startswith("busy") and await db.sadd(BUSY, message["to"]):
        return JSONResponse({"error": "slow down"}, status_code=429, headers={"Retry-After": "0.3"})
    n = await db.rpush(MAILBOX, json.dumps(message))
    return JSONResponse({"message": n})


async def mailbox_get(request: Request) -> JSONResponse:
    db = request.state.emails.redis
    return JSONResponse({"count": await db.llen(MAILBOX)})


app = Starlette(
    routes=[
        Route("/emails", post_email, methods=["POST"]),
        Route("/reports", post_report, methods=["POST"]),
        Route("/jobs/{id}", job_status, methods=["GET"]),
        Route("/jobs/{id}/result", job_result, methods=["GET"]),
        Route("/jobs/{id}", cancel_job, methods=["DELETE"]),
        Route("/tally", tally, methods=["GET"]),
        Route("/mailbox", mailbox_post, methods=["POST"]),
        Route("/mailbox", mailbox_get, methods=["GET"]),
    ],
    lifespan=lifespan,
)
