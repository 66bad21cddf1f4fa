"""The command line: run a worker, look into queues, put and requeue jobs.

    aioredisjobqueue worker module:handler --queue NAME [--queue NAME2 ...] [--lifespan m:f] ...
        [--prefetch N] [--shards N]
        [--health-port PORT] [--metrics-port PORT] [--log-format text|json]
    aioredisjobqueue stats [NAME ...] [--watch]
    aioredisjobqueue put NAME JSON [--delay S] [--key K] [--shards N]
    aioredisjobqueue peek NAME [-n N]
    aioredisjobqueue dead NAME
    aioredisjobqueue requeue-dead NAME [ID ...]
    aioredisjobqueue purge NAME --yes
    aioredisjobqueue status NAME ID | cancel NAME ID | result NAME ID   (in _cli_jobs.py)

Every command takes ``--url``, by default ``$REDIS_URL``, then ``redis://localhost:6379/0``:
``redis+cluster://host:port`` (or ``--cluster`` before the command) for a Redis Cluster,
``redis+sentinel://host:port,host:port/SERVICE/DB`` for the primary Sentinel names.
Errors are one line on stderr and a non-zero exit status: 1 for what Redis or the queue
answered (an unknown queue, a duplicate job, no Redis), 2 for bad arguments. A sharded
queue is opened with the shards Redis holds for it; ``--shards`` (``put``, ``worker``) makes
a new queue sharded.
"""

from __future__ import annotations

import asyncio
import contextlib
import datetime as dt
import importlib
import json
import logging
import os
import signal
import sys
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import click
from redis.exceptions import MovedError, RedisError, ResponseError
from rich.console import Console
from rich.live import Live
from rich.table import Table

from . import __version__, _args, _codec
from ._args import MAX_SHARDS
from ._client import client_for, close_client, detect_cluster
from ._errors import DuplicateJobError, JobQueueError
from ._handler import check_handler
from ._http import Route
from ._inspect import queue_names
from ._jsonlog import JsonFormatter
from ._keys import QueueKeys, validate_queue_name
from ._queue import QueueStats, RedisJobQueue
from ._serve import endpoints, health_routes, metrics_routes
from ._sharded import open_queue, stored_shards
from ._transient import CONNECTION_ERRORS
from .worker import DEFAULT_MAX_DELIVERIES, Handler, Worker

__all__ = ["cli"]

DEFAULT_URL = "redis://localhost:6379/0"
T = TypeVar("T")


def _resolve_url(ctx: click.Context, param: click.Parameter, value: str | None) -> str:
    """--url of the command, else --url before it, else $REDIS_URL, else the default;
    with --cluster before the command, a redis:// URL names a cluster node."""
    root = ctx.find_root().params
    parent = root.get("url")
    if not value:
        value = parent if isinstance(parent, str) and parent else None
    url = value or os.environ.get("REDIS_URL") or DEFAULT_URL
    if root.get("cluster") and url.split("://", 1)[0] in ("redis", "rediss"):
        scheme, rest = url.split("://", 1)
        url = f"{scheme}+cluster://{rest.split('/', 1)[0]}"
    return url


shards_option = click.option(
    "--shards",
    type=click.IntRange(min=1, max=MAX_SHARDS),
    help="The queue's shards, for a new queue (default: as Redis holds the queue; 1 if new).",
)
url_option = click.option(
    "--url",
    callback=_resolve_url,
    help=f"Redis URL [default: $REDIS_URL, else {DEFAULT_URL}]",
)


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="aioredisjobqueue")
@click.option(
    "--url", help=f"Redis URL for every command [default: $REDIS_URL, else {DEFAULT_URL}]"
)
@click.option(
    "--cluster",
    is_flag=True,
    help="The URL names a node of a Redis Cluster (as a redis+cluster:// URL does).",
)
@click.pass_context
def cli(ctx: click.Context, url: str | None, cluster: bool) -> None:
    """An asyncio job queue on Redis: run workers and look into queues."""
    if ctx.invoked_subcommand != "worker":  # the worker logs by its --log-level
        handler = _WarningLines(logging.WARNING)
        logging.getLogger("aioredisjobqueue").addHandler(handler)
        ctx.call_on_close(lambda: logging.getLogger("aioredisjobqueue").removeHandler(handler))


class _WarningLines(logging.Handler):
    """The library's warnings (such as a Redis that may evict jobs) as one line each on
    stderr: ``Warning: ...``."""

    def emit(self, record: logging.LogRecord) -> None:
        click.echo(f"Warning: {record.getMessage()}", err=True)


# -- running commands ----------------------------------------------------------------


def _run(url: str, main: Callable[[Any], Coroutine[Any, Any, T]]) -> T:
    """Run ``main(client)`` on a client for ``url``; turn Redis failures into one line."""
    try:
        made = client_for(
            redis_host=None, redis_port=None, redis_db=None, url=url, redis=None, max_connections=8
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--url") from None

    async def with_client() -> T:
        client = made.redis
        try:
            # a redis:// URL of a cluster node reaches the whole cluster (one INFO to ask)
            cluster = await detect_cluster(made, client.execute_command)
            if cluster is not None:
                await close_client(client)
                client = cluster.redis
            return await main(client)
        finally:
            await close_client(client)

    try:
        return asyncio.run(with_client())
    except CONNECTION_ERRORS as exc:
        raise click.ClickException(f"cannot reach Redis at {_safe(url)}: {exc}") from None
    except MovedError as exc:
        raise click.ClickException(
            f"Redis at {_safe(url)} is a cluster node (MOVED {exc}): pass --cluster before "
            "the command, or use a redis+cluster:// URL"
        ) from None
    except ResponseError as exc:
        raise click.ClickException(f"Redis at {_safe(url)} answered: {exc}") from None
    except RedisError as exc:
        raise click.ClickException(f"Redis at {_safe(url)}: {exc}") from None
    except JobQueueError as exc:  # a queue opened with other shards than it has
        raise click.ClickException(str(exc)) from None


def _safe(url: str) -> str:
    """The URL without its password, for messages."""
    scheme, sep, rest = url.partition("://")
    credentials, at, host = rest.rpartition("@")
    if not sep or not at or ":" not in credentials:
        return url
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***@{host}"


def _name(value: str) -> str:
    try:
        return validate_queue_name(value)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="NAME") from None


async def _known(client: Any, url: str, names: Sequence[str]) -> None:
    """Raise for the first name that is no queue at ``url``: nothing was ever put in it."""
    for name in names:
        keys = QueueKeys(name)
        if not await client.exists(keys.marker, *keys.all()):
            raise click.ClickException(
                f"no queue {name!r} at {_safe(url)}: nothing was ever put in it"
            )


def _json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


# -- worker --------------------------------------------------------------------------


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


# -- looking into queues ---------------------------------------------------------------


def _stats_table(
    stats: dict[str, QueueStats],
    workers: dict[str, int],
    url: str,
    rates: dict[str, float] | None = None,
) -> Table:
    """The stats as a table; with ``rates``, a column of how fast each total changes."""
    table = Table(title=f"{_safe(url)}  {time.strftime('%H:%M:%S')}", title_justify="left")
    table.add_column("queue")
    for column in ("ready", "locked", "delayed", "dead", "total", "workers"):
        table.add_column(column, justify="right")
    if rates is not None:
        table.add_column("total/s", justify="right")
    for name, s in stats.items():
        cells = [str(n) for n in (s.ready, s.locked, s.delayed, s.dead, s.total)]
        cells.append(str(workers.get(name, 0)))
        if rates is not None:
            cells.append(f"{rates[name]:+,.0f}" if name in rates else "")
        table.add_row(name, *cells)
    return table


async def _read_stats(client: Any, names: Sequence[str]) -> dict[str, QueueStats]:
    found = list(names) or await queue_names(client)
    return {name: await (await open_queue(name, client)).stats() for name in found}


async def _read_workers(client: Any, names: Sequence[str]) -> dict[str, int]:
    """How many live workers serve each queue."""
    return {name: len(await RedisJobQueue(name, redis=client).workers()) for name in names}


@cli.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@url_option
@click.option("--watch", "-w", is_flag=True, help="Refresh until Ctrl-C.")
@click.option(
    "--interval", type=click.FloatRange(min=0.05), default=1.0, show_default=True, help="(s)"
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per queue and line.")
def stats(names: tuple[str, ...], url: str, watch: bool, interval: float, as_json: bool) -> None:
    """Count the jobs of queues by state.

    Shows ready, locked, delayed and dead jobs of each queue NAME (default: every queue),
    and how many live workers serve it.
    """
    wanted = [_name(n) for n in names]
    console = Console()

    async def show(client: Any) -> None:
        current = await _read_stats(client, wanted)
        workers = await _read_workers(client, list(current))
        if as_json:
            for name, s in current.items():
                record = {"queue": name, "ready": s.ready, "locked": s.locked}
                record |= {"delayed": s.delayed, "dead": s.dead, "total": s.total}
                click.echo(_json_line(record | {"workers": workers[name]}))
        elif current:
            console.print(_stats_table(current, workers, url))
        else:
            click.echo(f"no queues at {_safe(url)}", err=True)

    async def main(client: Any) -> None:
        await _known(client, url, wanted)
        if not watch:
            await show(client)
            return
        if as_json or not console.is_terminal:
            while True:  # a log of snapshots, for pipes and files
                await show(client)
                await asyncio.sleep(interval)
        with Live(console=console, auto_refresh=False) as live:
            before: dict[str, QueueStats] = {}
            then = time.monotonic()
            while True:
                current, now = await _read_stats(client, wanted), time.monotonic()
                workers = await _read_workers(client, list(current))
                rates = {
                    name: (s.total - before[name].total) / (now - then)
                    for name, s in current.items()
                    if name in before and now > then
                }
                live.update(_stats_table(current, workers, url, rates), refresh=True)
                before, then = current, now
                await asyncio.sleep(interval)

    if not watch:
        _run(url, main)
        return
    with contextlib.suppress(KeyboardInterrupt):  # Ctrl-C is how --watch is meant to end
        _run(url, _until_stopped(main))


def _until_stopped(
    main: Callable[[Any], Coroutine[Any, Any, None]],
) -> Callable[[Any], Coroutine[Any, Any, None]]:
    """``main``, ended quietly by SIGTERM or Ctrl-C."""

    async def run(client: Any) -> None:
        task = asyncio.current_task()
        assert task is not None
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGTERM, task.cancel)
        try:
            await main(client)
        except asyncio.CancelledError:
            return
        finally:
            loop.remove_signal_handler(signal.SIGTERM)

    return run


@cli.command()
@click.argument("name")
@click.argument("payload", metavar="JSON")
@url_option
@click.option("--delay", type=click.FloatRange(min=0), default=0.0, help="Due after (s).")
@click.option("--key", help="The job's identity instead of its content (an idempotency key).")
@shards_option
def put(
    name: str, payload: str, url: str, delay: float, key: str | None, shards: int | None
) -> None:
    """Put the job JSON in the queue NAME and print its id."""
    queue_name = _name(name)
    value = _json_argument(payload)
    try:
        _args.delay_us(delay, "--delay")
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--delay") from None

    async def main(client: Any) -> str:
        try:
            queue = await open_queue(queue_name, client, shards)
            return await queue.put(value, delay=delay, key=key)
        except DuplicateJobError as exc:
            raise click.ClickException(str(exc)) from None
        except (TypeError, ValueError) as exc:
            hint = "--key" if str(exc).startswith("key ") else "JSON"
            raise click.BadParameter(str(exc), param_hint=hint) from None

    click.echo(_run(url, main))


def _json_argument(text: str, hint: str = "JSON") -> Any:
    """The JSON value ``text`` holds, ready to queue; a ``BadParameter`` if there is none."""
    try:
        value = json.loads(text)
    except json.JSONDecodeError as exc:
        raise click.BadParameter(f"not valid JSON: {exc}", param_hint=hint) from None
    except RecursionError:
        raise click.BadParameter("not valid JSON: nested too deeply", param_hint=hint) from None
    except ValueError as exc:  # a number of more digits than Python reads
        reason = str(exc).split(";")[0]
        raise click.BadParameter(f"not valid JSON: {reason}", param_hint=hint) from None
    try:
        _codec.encode(value)  # a lone surrogate ("\\ud800" in the text) cannot be queued
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint=hint) from None
    return value


def _queue_command(name: str, url: str, action: Callable[[RedisJobQueue], Awaitable[T]]) -> T:
    """Run ``action`` on the queue NAME, which must exist."""
    queue_name = _name(name)

    async def main(client: Any) -> T:
        await _known(client, url, [queue_name])
        return await action(await open_queue(queue_name, client))

    return _run(url, main)


@cli.command()
@click.argument("name")
@url_option
@click.option("-n", "count", type=click.IntRange(min=1), default=10, show_default=True)
def peek(name: str, url: str, count: int) -> None:
    """Print the next waiting jobs.

    Their payloads, one JSON value per line, in the order they become due.
    """
    for job in _queue_command(name, url, lambda q: q.peek(count)):
        click.echo(_json_line(job.payload))


@cli.command()
@click.argument("name")
@url_option
@click.option("-n", "count", type=click.IntRange(min=1), help="At most this many, oldest first.")
def dead(name: str, url: str, count: int | None) -> None:
    """List the dead letters of a queue.

    One JSON object per line, oldest first: id, deliveries, died_at, error (the last one,
    or null), payload.
    """
    for letter in _queue_command(name, url, lambda q: q.dead_letters(count)):
        died = dt.datetime.fromtimestamp(letter.died_at, dt.UTC).isoformat(timespec="seconds")
        record = {"id": letter.id, "deliveries": letter.deliveries, "died_at": died}
        click.echo(_json_line(record | {"error": letter.error, "payload": letter.payload}))


@cli.command("requeue-dead")
@click.argument("name")
@click.argument("ids", nargs=-1, metavar="[ID]...")
@url_option
def requeue_dead(name: str, ids: tuple[str, ...], url: str) -> None:
    """Put dead letters back in the queue.

    The jobs ID (default: every dead letter) are due at once, their deliveries reset.
    """
    try:
        chosen = [_args.job_id(i, "ID") for i in ids] or None
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="ID") from None
    n = _queue_command(name, url, lambda q: q.requeue_dead(chosen))
    click.echo(f"requeued {n} job{'s' if n != 1 else ''} in queue {name!r}")


@cli.command()
@click.argument("name")
@url_option
@click.option("--yes", is_flag=True, help="Confirm: every job of the queue goes.")
def purge(name: str, url: str, yes: bool) -> None:
    """Remove every job of a queue (needs --yes).

    Jobs in every state go: ready, locked, delayed and dead.
    """
    if not yes:
        raise click.UsageError(f"purge removes every job of queue {name!r}: add --yes to do it")
    n = _queue_command(name, url, lambda q: q.purge())
    click.echo(f"purged {n} job{'s' if n != 1 else ''} from queue {name!r}")


# commands of their own modules, registered on ``cli`` as they are imported
from . import _cli_jobs, _cli_ops, _cli_web  # noqa: E402, F401
