"""``aioredisjobqueue worker``: run a handler on the jobs of one or several queues.

    aioredisjobqueue worker module:handler --queue NAME [--queue NAME2 ...] [--lifespan m:f] ...
        [--prefetch N] [--shards N]
        [--health-port PORT] [--metrics-port PORT] [--log-format text|json]

Registered on the ``cli`` group when ``aioredisjobqueue.cli`` is imported.
"""

from __future__ import annotations

import contextlib
import importlib
import logging
import os
import sys
from typing import Any

import click

from . import _args
from ._handler import check_handler
from ._http import Route
from ._jsonlog import JsonFormatter
from ._queue import RedisJobQueue
from ._serve import endpoints, health_routes, metrics_routes
from ._sharded import stored_shards
from .cli import _name, _run, cli, shards_option, url_option
from .worker import DEFAULT_MAX_DELIVERIES, Handler, Worker

__all__ = ["worker"]


def _import(spec: str, hint: str) -> Any:
    """The object ``module:attribute`` names (``attribute`` may be dotted)."""
    module_name, colon, attribute = spec.partition(":")
    if not colon or not module_name or not attribute:
        raise click.BadParameter(f"must be module:function, got {spec!r}", param_hint=hint)
    if "" not in sys.path and os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())  # as `python -m` does: modules of the current folder
    try:
        target: Any = importlib.import_module(module_name)
    except ImportError as exc:
        raise click.BadParameter(f"cannot import {module_name!r}: {exc}", param_hint=hint) from None
    for part in attribute.split("."):
        try:
            target = getattr(target, part)
        except AttributeError:
            raise click.BadParameter(
                f"{module_name!r} has no {attribute!r}", param_hint=hint
            ) from None
    return target


def _queue_names(values: tuple[str, ...]) -> list[str]:
    """The names of ``--queue``, given once per queue: a comma is refused, not split."""
    names: list[str] = []
    for value in values:
        if "," in value:
            raise click.BadParameter(
                f"a queue name must not contain ',', got {value!r}: give --queue once per queue "
                "(--queue a --queue b)",
                param_hint="--queue",
            )
        name = _name(value)
        if name in names:
            raise click.BadParameter(f"queue {name!r} is given twice", param_hint="--queue")
        names.append(name)
    return names


@cli.command()
@click.argument("handler", metavar="MODULE:FUNCTION")
@click.option(
    "--queue",
    "-q",
    "queue_names",
    required=True,
    multiple=True,
    help="A queue to take jobs from; repeat it for several (jobs are taken fairly).",
)
@url_option
@click.option("--concurrency", "-c", type=click.IntRange(min=1), default=10, show_default=True)
@click.option(
    "--prefetch",
    type=click.IntRange(min=0),
    help="Jobs held, locked, beyond the free handler slots, so a slot that frees up starts "
    "its next job at once [default: the smaller of --concurrency and 10; 0: none].",
)
@shards_option
@click.option(
    "--lock-timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=30_000,
    show_default=True,
    help="Lock of each job, in ms; renewed while its handler runs.",
)
@click.option(
    "--grace",
    type=click.FloatRange(min=0),
    default=30.0,
    show_default=True,
    help="Seconds running handlers get to finish on SIGTERM/SIGINT.",
)
@click.option("--retry-delay", type=click.FloatRange(min=0), default=1.0, show_default=True)
@click.option("--retry-max-delay", type=click.FloatRange(min=0), default=300.0, show_default=True)
@click.option(
    "--timeout", type=click.FloatRange(min=0, min_open=True), help="Time limit of a job (s)."
)
@click.option(
    "--max-deliveries",
    type=click.IntRange(min=0),
    default=DEFAULT_MAX_DELIVERIES,
    show_default=True,
    help="Dead-letter a job that failed on this many deliveries (0: no limit).",
)
@click.option(
    "--lifespan",
    metavar="MODULE:FUNCTION",
    help="FUNCTION(url) returns an async context manager, entered before the first job "
    "and left after the last; handlers reach its value with worker_state().",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
@click.option(
    "--log-format",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: one JSON object per line (time, level, message, queue, job_id, ...).",
)
@click.option(
    "--heartbeat",
    type=click.FloatRange(min=0, min_open=True),
    default=2.0,
    show_default=True,
    help="Seconds between the worker's heartbeats; it drops out of `workers` 3 beats after "
    "the last.",
)
@click.option(
    "--health-port",
    type=click.IntRange(0, 65535),
    help="Serve /livez and /readyz over HTTP on this port, for probes.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(0, 65535),
    help="Serve Prometheus /metrics on this port (needs the [metrics] extra).",
)
@click.option(
    "--http-host",
    default="0.0.0.0",
    show_default=True,
    help="Address the health and metrics ports listen on.",
)
def worker(
    handler: str,
    queue_names: tuple[str, ...],
    url: str,
    concurrency: int,
    prefetch: int | None,
    lock_timeout: float,
    grace: float,
    retry_delay: float,
    retry_max_delay: float,
    timeout: float | None,
    max_deliveries: int,
    lifespan: str | None,
    log_level: str,
    log_format: str,
    heartbeat: float,
    health_port: int | None,
    metrics_port: int | None,
    http_host: str,
    shards: int | None,
) -> None:
    """Run a handler on the jobs of one or several queues.

    Runs the async function MODULE:FUNCTION (or a Tasks registry) until SIGTERM/SIGINT.
    The function takes a Job: its return completes the job, an exception retries it
    later. The first signal stops taking jobs and gives running ones --grace seconds; a
    second one stops at once.
    """
    names = _queue_names(queue_names)
    try:
        function: Handler = check_handler(_import(handler, "MODULE:FUNCTION"))
        _args.lock_ms(lock_timeout, "--lock-timeout")
    except (TypeError, ValueError) as exc:
        hint = "--lock-timeout" if str(exc).startswith("--") else "MODULE:FUNCTION"
        raise click.BadParameter(str(exc), param_hint=hint) from None
    make_lifespan = None if lifespan is None else _import(lifespan, "--lifespan")
    if make_lifespan is not None and not callable(make_lifespan):
        raise click.BadParameter(f"{lifespan!r} is not callable", param_hint="--lifespan")
    log_handler = logging.StreamHandler(sys.stderr)
    log_handler.setFormatter(
        JsonFormatter()
        if log_format == "json"
        else logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s")
    )
    logging.basicConfig(level=log_level.upper(), handlers=[log_handler])

    metrics = None if metrics_port is None else _metrics()

    async def main(client: Any) -> None:
        await client.ping()  # fail at once, with one line, when Redis is not there
        opened = None if make_lifespan is None else make_lifespan(url)
        if opened is not None and not hasattr(opened, "__aenter__"):
            raise click.BadParameter(
                f"{lifespan}(url) returned {opened!r:.80}, not an async context manager "
                "(make it an @asynccontextmanager function)",
                param_hint="--lifespan",
            )
        # queues with a pool of their own: their calls share one pipelined connection
        limit = max_deliveries or None
        queues = [
            RedisJobQueue(
                name,
                url=url,
                max_deliveries=limit,
                shards=shards or await stored_shards(client, name),
            )
            for name in names
        ]
        try:
            the_worker = Worker(
                queues,
                function,
                max_deliveries=limit,
                lifespan=None if opened is None else (lambda: opened),
                concurrency=concurrency,
                prefetch=prefetch,
                lock_timeout=lock_timeout,
                grace=grace,
                retry_delay=retry_delay,
                retry_max_delay=retry_max_delay,
                timeout=timeout,
                heartbeat=heartbeat,
                on_event=None if metrics is None else metrics.on_event,
            )
        except (TypeError, ValueError) as exc:
            raise click.UsageError(str(exc)) from None
        ports: dict[int, dict[str, Route]] = {}
        if health_port is not None:
            ports.setdefault(health_port, {}).update(health_routes(the_worker))
        if metrics_port is not None and metrics is not None:
            ports.setdefault(metrics_port, {}).update(metrics_routes(metrics, the_worker))
        try:
            async with contextlib.AsyncExitStack() as stack:
                try:
                    await stack.enter_async_context(endpoints(http_host, ports))
                except OSError as exc:
                    raise click.ClickException(f"cannot serve HTTP on {http_host}: {exc}") from None
                await the_worker.run(handle_signals=True)
        finally:
            for queue in queues:
                await queue.aclose()

    _run(url, main)


def _metrics() -> Any:
    """Metrics on a registry of their own, with the process' own metrics (CPU, memory)."""
    try:
        import prometheus_client

        from .metrics import Metrics
    except ModuleNotFoundError as exc:
        raise click.UsageError(
            f"--metrics-port needs prometheus-client: pip install 'aioredisjobqueue[metrics]' "
            f"({exc})"
        ) from None
    registry = prometheus_client.CollectorRegistry()
    prometheus_client.ProcessCollector(registry=registry)
    prometheus_client.PlatformCollector(registry=registry)
    return Metrics(registry)
