"""The HTTP endpoints of a command-line worker: ``/livez`` and ``/readyz`` for probes on
``--health-port``, ``/metrics`` for Prometheus on ``--metrics-port`` (one server when
both are the same port)."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING

import anyio

from ._http import Reply, Route, serving
from ._transient import CAUGHT

if TYPE_CHECKING:
    from .metrics import Metrics
    from .worker import Worker

__all__ = ["PING_WITHIN", "endpoints", "health_routes", "metrics_routes"]

# How long readiness waits for Redis to answer PING (seconds).
PING_WITHIN = 2.0


def health_routes(worker: Worker) -> dict[str, Route]:
    """``/livez``: the worker's loops turn (its heartbeat loop turned within three
    heartbeats); ``/readyz``: the worker runs, is not stopping, and Redis answers PING."""

    async def livez() -> Reply:
        if worker.alive:
            return Reply.text(200, f"ok: worker {worker.id} is running")
        if worker.stopping:
            return Reply.text(503, f"worker {worker.id} has stopped")
        return Reply.text(503, f"worker {worker.id}: its loops have not turned in three beats")

    async def readyz() -> Reply:
        if worker.stopping:
            return Reply.text(503, f"worker {worker.id} is stopping")
        if not worker.alive:
            return Reply.text(503, f"worker {worker.id} is not running")
        try:
            with anyio.fail_after(PING_WITHIN):
                await worker.queue.redis.ping()
        except TimeoutError:
            return Reply.text(503, f"Redis did not answer within {PING_WITHIN:g} s")
        except CAUGHT as exc:
            return Reply.text(503, f"Redis: {exc}")
        return Reply.text(200, "ok: Redis answers")

    return {"/livez": livez, "/readyz": readyz}


def metrics_routes(metrics: Metrics, worker: Worker) -> dict[str, Route]:
    """``/metrics``: the worker's metrics, the gauges of its queues read at each scrape (for
    at most ``PING_WITHIN`` seconds; when Redis does not answer they keep their values)."""

    async def scrape() -> Reply:
        try:
            with anyio.fail_after(PING_WITHIN):
                await metrics.collect(worker.queues)
        except CAUGHT:
            pass  # the counters still count; the gauges show the last values read
        body, content_type = metrics.exposition()
        return Reply(200, content_type, body)

    return {"/metrics": scrape}


@contextlib.asynccontextmanager
async def endpoints(host: str, ports: dict[int, dict[str, Route]]) -> AsyncIterator[dict[int, int]]:
    """Serve each port's routes while inside (routes of one port share a server); yields
    each port asked for -> the port bound (which differs for port 0)."""
    bound: dict[int, int] = {}
    async with contextlib.AsyncExitStack() as stack:
        for port, routes in ports.items():
            bound[port] = await stack.enter_async_context(serving(host, port, routes))
        yield bound
