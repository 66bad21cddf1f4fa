"""OpenTelemetry: a span per handled job, in the trace of the request that queued it; the
trace context kept apart from the job's payload and identity."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from conftest import MakeQueue
from deployments import every_deployment
from helpers import eventually
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import SimpleSpanProcessor
from opentelemetry.sdk.trace.export.in_memory_span_exporter import InMemorySpanExporter
from opentelemetry.trace import SpanKind, StatusCode
from test_worker import running

from aioredisjobqueue import DuplicateJobError, Job, Worker, job_id
from aioredisjobqueue.otel import Tracing

# the contract: every test here runs on one node, fakeredis, a Redis Cluster and Sentinel
backend = every_deployment


@pytest.fixture
def spans() -> Iterator[tuple[TracerProvider, InMemorySpanExporter]]:
    exporter = InMemorySpanExporter()
    provider = TracerProvider()
    provider.add_span_processor(SimpleSpanProcessor(exporter))
    yield provider, exporter
    provider.shutdown()


def named(exporter: InMemorySpanExporter, name: str) -> list[ReadableSpan]:
    return [s for s in exporter.get_finished_spans() if s.name == name]


def parent_of(span: ReadableSpan) -> int | None:
    return None if span.parent is None else span.parent.span_id


async def test_a_job_put_in_a_request_is_handled_in_the_requests_trace(
    make_queue: MakeQueue, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    queue = make_queue()
    tracing = Tracing(provider)
    app = provider.get_tracer("app")
    payload = {"to": "ada@example.com"}
    with app.start_as_current_span("request"):
        put_id = await tracing.put(queue, payload)
    # the context is kept apart: the job's id and content are the payload's alone
    assert put_id == job_id(payload)
    with pytest.raises(DuplicateJobError):
        await queue.put(payload)
    seen: list[Any] = []

    async def handle(job: Job) -> None:
        seen.append(job.payload)
        with app.start_as_current_span("send"):
            pass

    worker = Worker(queue, handle, on_event=tracing.on_event)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 1)
    assert seen == [payload]
    # the completed job's trace context is gone with it
    assert not await queue.redis.exists(queue.keys.trace(put_id))
    (request,) = named(exporter, "request")
    (publish,) = named(exporter, f"{queue.name} publish")
    (process,) = named(exporter, f"{queue.name} process")
    (send,) = named(exporter, "send")
    trace_ids = {s.context.trace_id for s in (request, publish, process, send)}
    assert trace_ids == {request.context.trace_id}  # one trace, from request to handler
    assert parent_of(publish) == request.context.span_id
    assert parent_of(process) == publish.context.span_id
    assert parent_of(send) == process.context.span_id  # the handler ran inside the job's span
    assert (publish.kind, process.kind) == (SpanKind.PRODUCER, SpanKind.CONSUMER)
    assert process.attributes is not None
    assert process.attributes["messaging.destination.name"] == queue.name
    assert process.attributes["messaging.message.id"] == put_id
    assert process.attributes["messaging.message.delivery_count"] == 1
    assert process.attributes["aioredisjobqueue.outcome"] == "complete"
    assert process.status.status_code == StatusCode.UNSET


async def test_each_delivery_has_its_span_and_a_failure_an_error_status(
    make_queue: MakeQueue, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    queue = make_queue()
    tracing = Tracing(provider)
    with provider.get_tracer("app").start_as_current_span("request") as request:
        await tracing.put(queue, "flaky")

    async def handle(job: Job) -> None:
        if job.deliveries == 1:
            raise RuntimeError("first time fails")

    worker = Worker(queue, handle, retry_delay=0, retry_max_delay=0, on_event=tracing.on_event)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 1)
    first, second = named(exporter, f"{queue.name} process")
    assert {first.context.trace_id, second.context.trace_id} == {
        request.get_span_context().trace_id
    }
    assert first.status.status_code == StatusCode.ERROR
    assert first.attributes is not None and first.attributes["aioredisjobqueue.outcome"] == "retry"
    assert [e.name for e in first.events] == ["exception"]
    assert second.attributes is not None
    assert second.attributes["messaging.message.delivery_count"] == 2
    assert second.status.status_code == StatusCode.UNSET


async def test_a_job_put_outside_a_trace_starts_a_trace_of_its_own(
    make_queue: MakeQueue, spans: tuple[TracerProvider, InMemorySpanExporter]
) -> None:
    provider, exporter = spans
    queue = make_queue()
    tracing = Tracing(provider)
    plain = await queue.put("plain")
    assert not await tracing.keep_context(queue, plain)  # no current span: nothing to keep
    with provider.get_tracer("app").start_as_current_span("request"):
        assert not await tracing.keep_context(queue, job_id("never put"))

    async def handle(job: Job) -> None:
        pass

    worker = Worker(queue, handle, on_event=tracing.on_event)
    async with running(worker):
        await eventually(lambda: worker.counts.get("complete") == 1)
    (process,) = named(exporter, f"{queue.name} process")
    assert process.parent is None
    with pytest.raises(ValueError, match="ttl must be a positive number of seconds, got 0"):
        Tracing(provider, ttl=0)
