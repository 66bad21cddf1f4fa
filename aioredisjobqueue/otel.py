"""OpenTelemetry tracing of jobs (``pip install 'aioredisjobqueue[otel]'``).

    from aioredisjobqueue.otel import Tracing

    tracing = Tracing()                             # the global tracer provider
    job_id = await tracing.put(queue, payload)      # within a request's span: the job
                                                    # joins the request's trace
    await tracing.keep_context(queue, job_id)       # or after a put of your own
    worker = Worker(queue, handler, on_event=tracing.on_event)   # a span per handled job

The trace context is kept apart from the job (``ajq:{NAME}:trace:ID``, expiring after
``ttl`` seconds), never in its payload, so it changes neither the job's id nor what makes
two jobs duplicates. The worker's span is the current span while the handler runs, so spans
the handler makes are its children.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
from typing import Any

try:
    from opentelemetry import context, propagate, trace
    from opentelemetry.trace import SpanKind, Status, StatusCode
except ImportError as exc:  # pragma: no cover - the extra is missing
    raise ModuleNotFoundError(
        "aioredisjobqueue.otel needs opentelemetry-api: pip install 'aioredisjobqueue[otel]'",
        name="opentelemetry",
    ) from exc

from . import _args
from ._events import JobEvent
from ._job import Job
from ._logfields import task_name
from ._queue import RedisJobQueue
from ._transient import CAUGHT

__all__ = ["Tracing"]

logger = logging.getLogger("aioredisjobqueue")

# The span of the job the current task handles, and the token that made it current.
_Current = tuple[trace.Span, contextvars.Token[context.Context]]
_CURRENT: contextvars.ContextVar[_Current | None] = contextvars.ContextVar(
    "aioredisjobqueue_job_span", default=None
)


class Tracing:
    """Spans for jobs: ``put`` keeps the current trace context with a job, ``on_event`` (a
    Worker's hook) makes a span per handled job, in that trace.

    ``tracer_provider`` defaults to the global one. ``ttl`` is how many seconds a job's
    trace context is kept (default 7 days): a job handled later starts a trace of its own.
    """

    def __init__(
        self, tracer_provider: trace.TracerProvider | None = None, *, ttl: float = 7 * 86400
    ) -> None:
        from . import __version__

        self._tracer = trace.get_tracer("aioredisjobqueue", __version__, tracer_provider)
        self._ttl_ms = max(1, round(_args.positive_seconds(ttl, "ttl") * 1000))

    async def put(
        self, queue: RedisJobQueue[Any], payload: Any, *, delay: float = 0.0, key: str | None = None
    ) -> str:
        """``queue.put(payload, delay=, key=)`` in a producer span, keeping its context with
        the job. Returns the job id; raises what ``put`` raises."""
        attributes = _attributes(queue.name)
        with self._tracer.start_as_current_span(
            f"{queue.name} publish", kind=SpanKind.PRODUCER, attributes=attributes
        ) as span:
            job_id = await queue.put(payload, delay=delay, key=key)
            span.set_attribute("messaging.message.id", job_id)
            await self.keep_context(queue, job_id)
        return job_id

    async def keep_context(self, queue: RedisJobQueue[Any], job_id: str) -> bool:
        """Keep the current trace context with the job ``job_id`` of ``queue``, for the
        worker that runs it. False if there is no context to keep or the job is gone."""
        carrier: dict[str, str] = {}
        propagate.inject(carrier)
        if not carrier:
            return False
        job = _args.job_id(job_id, "job_id")
        scripts = queue._shard_of(job)._scripts  # on a sharded queue, the job's shard's
        return await scripts.keep_trace(job, json.dumps(carrier), self._ttl_ms)

    async def on_event(self, event: JobEvent) -> None:
        """The ``on_event`` hook of a ``Worker``: a consumer span per handled job, current
        while its handler runs, ended with the job's outcome (an error status for a retry,
        a dead letter or a lost lock). A completed job's trace context is deleted (one
        round trip); others' expire after ``ttl``."""
        if event.kind == "start":
            _end(_CURRENT.get(), None)  # a job whose outcome was never told (Redis was away)
            job = event.job
            parent = await _context_of(job)
            attributes = _attributes(job.queue.name) | {
                "messaging.operation.type": "process",
                "messaging.message.id": job.id,
                "messaging.message.delivery_count": job.deliveries,
            }
            task = task_name(job)
            if task is not None:
                attributes["aioredisjobqueue.task"] = task
            span = self._tracer.start_span(
                f"{job.queue.name} process", context=parent, kind=SpanKind.CONSUMER,
                attributes=attributes,
            )  # fmt: skip
            token = context.attach(trace.set_span_in_context(span, parent))
            _CURRENT.set((span, token))
            return
        _end(_CURRENT.get(), event)
        _CURRENT.set(None)
        if event.kind == "complete":
            # the job is gone: so is its context (a retry or a dead letter may run again)
            job = event.job
            with contextlib.suppress(*CAUGHT):  # else it expires by itself
                await job.queue.redis.delete(job.queue._shard_of(job.id).keys.trace(job.id))


def _attributes(queue_name: str) -> dict[str, Any]:
    return {"messaging.system": "aioredisjobqueue", "messaging.destination.name": queue_name}


async def _context_of(job: Job) -> context.Context | None:
    """The trace context kept with ``job``, or None (none kept, or Redis failed to say)."""
    try:
        raw = await job.queue.redis.get(job.queue._shard_of(job.id).keys.trace(job.id))
    except CAUGHT:  # no context to be had now: the job's span starts a trace of its own
        return None
    if raw is None:
        return None
    try:
        carrier = json.loads(raw)
    except ValueError:
        return None
    return propagate.extract(carrier) if isinstance(carrier, dict) else None


def _end(current: _Current | None, event: JobEvent | None) -> None:
    if current is None:
        return
    span, token = current
    if event is not None:
        span.set_attribute("aioredisjobqueue.outcome", event.kind)
        if event.kind in ("retry", "dead", "lock_lost"):
            if event.error is not None:
                span.record_exception(event.error)
            span.set_status(Status(StatusCode.ERROR, event.kind))
    context.detach(token)
    span.end()
