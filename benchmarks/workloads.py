"""The measurements, the same for every library; each runs inside one child process.

Each returns ``{"metrics": {name: number}, "checks": {name: [got, wanted]}, "extra": ...}``.
A check whose two numbers differ marks the row FAILED in the report.
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import json
import logging
import math
import platform
import sys
import time
from collections.abc import Awaitable, Callable
from typing import Any

import redis.asyncio

from . import libs
from .harness import RESULT_MARK, percentile
from .idle import RequestCount
from .jobs import COUNTER_KEY, Recorder, install, padded_kwargs
from .keyspace import by_pattern
from .libs.base import Adapter
from .redis_stats import cost, snapshot

Result = dict[str, Any]


def _warmup_count(n: int) -> int:
    return max(1, min(500, n // 20))


def _us(seconds: float, n: int) -> float:
    return seconds / n * 1e6


async def _timed(n: int, step: Callable[[int], Awaitable[object]]) -> float:
    """Await ``step(i)`` for i in 0..n-1, one at a time; µs per step."""
    started = time.perf_counter()
    for i in range(n):
        await step(i)
    return _us(time.perf_counter() - started, n)


def probe(spec: dict[str, Any]) -> Result:
    """Import the library and say what it is: versions, settings, abilities."""
    adapter = libs.load(spec["lib"])
    versions = {"python": platform.python_version()}
    for dist in (*adapter.distributions, "redis", "hiredis"):
        try:
            versions[dist] = importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            versions[dist] = "not installed"
    return {
        "versions": versions,
        "settings": adapter.settings,
        "bulk_api": adapter.bulk_api,
        "drain_variants": list(adapter.drain_variants),
        "latency_variants": list(adapter.latency_variants),
        "concurrent_enqueue": adapter.concurrent_enqueue,
        "concurrency_note": adapter.concurrency_note,
        "has_pickup": adapter.has_pickup,
        "has_depth": adapter.has_depth,
    }


async def enqueue(adapter: Adapter, spec: dict[str, Any]) -> Result:
    """N jobs one by one, awaited; then N with the bulk API; then N from concurrent tasks."""
    n: int = spec["n"]
    warm = _warmup_count(n)
    metrics: dict[str, float] = {}
    checks: dict[str, list[int]] = {}
    for i in range(warm):
        await adapter.enqueue({"i": -1 - i})
    ping: Callable[[], Awaitable[None]] | None = getattr(adapter, "ping", None)
    if ping is not None:
        metrics["ping_us"] = await _timed(n, lambda _: ping())
    metrics["single_us"] = await _timed(n, lambda i: adapter.enqueue({"i": i}))
    expected = warm + n
    checks["single"] = [await adapter.queued(), expected]
    if adapter.bulk_api is not None:
        chunk: int = spec["bulk_chunk"]
        started = time.perf_counter()
        for start in range(n, 2 * n, chunk):
            await adapter.enqueue_bulk([{"i": i} for i in range(start, min(2 * n, start + chunk))])
        metrics["bulk_us"] = _us(time.perf_counter() - started, n)
        expected += n
        checks["bulk"] = [await adapter.queued(), expected]
    if adapter.concurrent_enqueue:
        tasks: int = spec["concurrent_tasks"]

        async def producer(k: int) -> None:
            for i in range(2 * n + k, 3 * n, tasks):
                await adapter.enqueue({"i": i})

        started = time.perf_counter()
        await asyncio.gather(*(producer(k) for k in range(tasks)))
        metrics["concurrent_us"] = _us(time.perf_counter() - started, n)
        expected += n
        checks["concurrent"] = [await adapter.queued(), expected]
    return {"metrics": metrics, "checks": checks}


async def drain(adapter: Adapter, spec: dict[str, Any]) -> Result:
    """N jobs queued one by one, then run by one worker; Redis cost of both halves."""
    n: int = spec["n"]
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(spec["url"])
    try:
        before = await snapshot(client)
        for i in range(n):
            await adapter.enqueue({"i": i})
        enqueued = await snapshot(client)
        queued = await adapter.queued()
        recorder = install(Recorder(spec["url"], n, spec["timeout"], spec["job"]))
        try:
            await adapter.work(recorder, concurrency=spec["concurrency"], variant=spec["variant"])
        finally:
            await recorder.aclose()
        drained = await snapshot(client)
        counted = int(await client.get(COUNTER_KEY) or 0)
        executed = counted if spec["job"] == "incr" else recorder.count
    finally:
        await client.aclose()
    metrics: dict[str, float] = {}
    if recorder.first_start is not None and recorder.count:
        elapsed = recorder.last_end - recorder.first_start
        metrics["jobs_per_s"] = recorder.count / elapsed if elapsed > 0 else float("inf")
        metrics["us_per_job"] = _us(elapsed, recorder.count)
    enqueue_cost = cost(before, enqueued, n)
    drain_cost = cost(enqueued, drained, n, bodies=counted)
    for prefix, part in (("enqueue", enqueue_cost), ("drain", drain_cost)):
        for key in ("cmds_per_job", "cpu_us_per_job", "bytes_in_per_job", "bytes_out_per_job"):
            metrics[f"{prefix}_{key}"] = part[key]
    return {
        "metrics": metrics,
        "checks": {
            "queued": [queued, n],
            "executed": [executed, n],
            "distinct": [len(recorder.seen), n],
        },
        "extra": {"enqueue_top": enqueue_cost["top"], "drain_top": drain_cost["top"]},
    }


async def latency(adapter: Adapter, spec: dict[str, Any]) -> Result:
    """An idle worker; jobs sent open-loop at a fixed rate by another process, then one more
    after ``idle`` s of silence. Latency = handler start - scheduled send time; for the job
    after the silence, handler start - actual send time (the producer's own wake-up after a
    long sleep is no part of the worker's pickup)."""
    count: int = spec["count"]
    idle: float = spec["idle"]
    start_at = time.time() + spec["boot"]
    schedule = [[i, start_at + i / spec["rate"]] for i in range(count)]
    if idle > 0:
        schedule.append([count, schedule[-1][1] + idle])
    limit = schedule[-1][1] - time.time() + spec["timeout"]
    recorder = install(Recorder(spec["url"], len(schedule), limit, spec["job"]))
    producer = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "benchmarks.child",
        json.dumps({**spec, "workload": "produce", "schedule": schedule}),
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        await adapter.work(recorder, concurrency=spec["concurrency"], variant=spec["variant"])
    finally:
        await recorder.aclose()
        out, err = await producer.communicate()
    sent = _child_result(out.decode(), err.decode())
    latencies = [recorder.latencies[i] * 1e3 for i in range(count) if i in recorder.latencies]
    metrics = {
        "p50_ms": percentile(latencies, 50),
        "p99_ms": percentile(latencies, 99),
        "max_ms": max(latencies, default=math.nan),
        "send_lateness_ms": max(sent["extra"]["lateness_ms"][:count], default=math.nan),
    }
    checks = {
        "received": [len(latencies), count],
        "sent": [sent["metrics"]["sent"], len(schedule)],
    }
    if idle > 0:
        late = sent["extra"]["lateness_ms"][count]
        metrics["idle_ms"] = recorder.latencies.get(count, math.nan) * 1e3 - late
        metrics["idle_send_lateness_ms"] = late
        checks["idle"] = [int(count in recorder.latencies), 1]
        quiet = sent["metrics"]
        metrics["idle_requests_per_s"] = quiet["idle_requests"] / quiet["idle_seconds"]
        metrics["idle_in_scripts_per_s"] = quiet["idle_in_scripts"] / quiet["idle_seconds"]
        metrics["idle_window_s"] = quiet["idle_seconds"]
        top = [[name, calls / quiet["idle_seconds"]] for name, calls in sent["extra"]["idle_top"]]
        return {"metrics": metrics, "checks": checks, "extra": {"idle_top": top}}
    return {"metrics": metrics, "checks": checks}


def _child_result(out: str, err: str) -> Result:
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            result: Result = json.loads(line[len(RESULT_MARK) :])
            return result
    raise RuntimeError(f"the producer failed: {err.strip()[-500:]}")


def quiet_window(spec: dict[str, Any]) -> tuple[float, float] | None:
    """The part of the silence before the last job when the idle worker's requests are
    counted (wall times): from ``settle`` s after the last open-loop job was due, so that
    a polling worker's backoff has reached its cap, to 1 s before the next is sent."""
    idle: float = spec["idle"]
    if idle <= 0:
        return None
    count: int = spec["count"]
    last, then = spec["schedule"][count - 1][1], spec["schedule"][count][1]
    settle, margin = min(5.0, idle * 0.2), min(1.0, idle * 0.1)
    return last + settle, then - margin


async def produce(spec: dict[str, Any]) -> Result:
    """The latency run's producer: send each job at its scheduled wall time.

    Before the job that follows the silence it closes its connections, counts what Redis
    receives during the quiet window (the idle worker's requests) and connects again, with
    one read (``queued()``) so that the timed put does not pay for connecting."""
    lateness: list[float] = []
    sent = 0
    extra: dict[str, Any] = {}
    metrics: dict[str, float] = {}
    window = quiet_window(spec)
    adapter = libs.load(spec["lib"])(spec["url"])
    await adapter.open()
    try:
        for i, at in spec["schedule"]:
            if i == spec["count"] and window is not None:
                await adapter.close()
                seen = await _count_quiet(spec["url"], *window)
                metrics["idle_requests"] = seen.total
                metrics["idle_in_scripts"] = seen.in_scripts
                metrics["idle_seconds"] = seen.seconds
                extra["idle_top"] = seen.requests.most_common(6)
                adapter = libs.load(spec["lib"])(spec["url"])
                await adapter.open()
                # connect and make the library's first calls now, not in the timed put
                await adapter.queued()
            delay = at - time.time()
            if delay > 0:
                await asyncio.sleep(delay)
            lateness.append((time.time() - at) * 1e3)
            await adapter.enqueue({"i": i, "t": at})
            sent += 1
    finally:
        await adapter.close()
    extra["lateness_ms"] = lateness
    return {"metrics": {"sent": sent, **metrics}, "extra": extra}


async def _count_quiet(url: str, start: float, end: float) -> RequestCount:
    await asyncio.sleep(max(0.0, start - time.time()))
    async with RequestCount(url) as seen:
        await asyncio.sleep(max(0.0, end - time.time()))
    return seen


async def memory(adapter: Adapter, spec: dict[str, Any]) -> Result:
    """``used_memory`` growth per job queued with a ``payload_bytes`` JSON payload; then
    ``MEMORY USAGE`` of every key, by key pattern (``keyspace.by_pattern``)."""
    n: int = spec["n"]
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(spec["url"])
    try:
        before = await snapshot(client)
        for i in range(n):
            await adapter.enqueue(padded_kwargs(i, spec["payload_bytes"]))
        after = await snapshot(client)
        keys = await by_pattern(client, n)
    finally:
        await client.aclose()
    return {
        "metrics": {
            "bytes_per_job": (after.used_memory - before.used_memory) / n,
            "key_bytes_per_job": sum(group["bytes_per_job"] for group in keys),
        },
        "checks": {"queued": [await adapter.queued(), n]},
        "extra": {"keys": keys},
    }


async def depth(adapter: Adapter, spec: dict[str, Any]) -> Result:
    """``get`` latency with many jobs waiting, and with many locked; a PING for scale."""
    samples: int = spec["samples"]
    metrics: dict[str, float] = {}
    checks: dict[str, list[int]] = {}
    for d in spec["depths"]:
        for locked in (False, True):
            state = "locked" if locked else "waiting"
            seconds, found = await adapter.depth_latencies(d, samples, locked)
            micros = [s * 1e6 for s in seconds]
            metrics[f"{d}_{state}_p50_us"] = percentile(micros, 50)
            metrics[f"{d}_{state}_p99_us"] = percentile(micros, 99)
            checks[f"{d}_{state}"] = [found, samples]
    client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(spec["url"])
    try:
        await client.ping()
        pings = []
        for _ in range(samples):
            started = time.perf_counter()
            await client.ping()
            pings.append((time.perf_counter() - started) * 1e6)
        await client.flushall()
    finally:
        await client.aclose()
    metrics["ping_p50_us"] = percentile(pings, 50)
    metrics["ping_p99_us"] = percentile(pings, 99)
    return {"metrics": metrics, "checks": checks}


WORKLOADS: dict[str, Callable[[Adapter, dict[str, Any]], Awaitable[Result]]] = {
    "enqueue": enqueue,
    "drain": drain,
    "latency": latency,
    "memory": memory,
    "depth": depth,
}


class _Notes(logging.Handler):
    """Keeps the harness's own warnings of this run, for the report."""

    def __init__(self) -> None:
        super().__init__(logging.WARNING)
        self.notes: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.notes.append(record.getMessage())


async def run(spec: dict[str, Any]) -> Result:
    if spec["workload"] == "probe":
        return probe(spec)
    if spec["workload"] == "produce":
        return await produce(spec)
    notes = _Notes()
    logging.getLogger("benchmarks").addHandler(notes)
    adapter = libs.load(spec["lib"])(spec["url"])
    await adapter.open()
    try:
        result = await WORKLOADS[spec["workload"]](adapter, spec)
    finally:
        await adapter.close()
    result["notes"] = notes.notes
    return result
