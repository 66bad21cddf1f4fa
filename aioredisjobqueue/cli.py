"""The command line: the ``cli`` group, and what its commands share.

    aioredisjobqueue worker module:handler --queue NAME ...     (in _cli_worker.py)
    aioredisjobqueue stats [NAME ...] [--watch]                 (in _cli_stats.py)
    aioredisjobqueue put | peek | dead | requeue-dead | purge   (in _cli_queue.py)
    aioredisjobqueue status | cancel | result NAME ID           (in _cli_jobs.py)
    aioredisjobqueue health | workers                           (in _cli_ops.py)
    aioredisjobqueue web                                        (in _cli_web.py)

Each command lives in a module ``_cli_<area>.py`` that registers it on ``cli`` when this
module imports it, at its end.

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
import datetime as dt
import json
import logging
import os
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from typing import Any, TypeVar

import click
from redis.exceptions import MovedError, RedisError, ResponseError

from . import __version__
from ._args import MAX_SHARDS
from ._client import client_for, close_client, detect_cluster
from ._errors import JobQueueError
from ._inspect import queue_exists
from ._keys import validate_queue_name
from ._queue import RedisJobQueue
from ._sharded import open_queue
from ._transient import CONNECTION_ERRORS

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
        if not await queue_exists(client, name):
            raise click.ClickException(
                f"no queue {name!r} at {_safe(url)}: nothing was ever put in it"
            )


def _json_line(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def _iso(seconds: float, timespec: str = "milliseconds") -> str:
    """The Unix time ``seconds`` as ISO 8601 text in UTC, to ``timespec``."""
    return dt.datetime.fromtimestamp(seconds, dt.UTC).isoformat(timespec=timespec)


def _queue_command(name: str, url: str, action: Callable[[RedisJobQueue], Awaitable[T]]) -> T:
    """Run ``action`` on the queue NAME, which must exist."""
    queue_name = _name(name)

    async def main(client: Any) -> T:
        await _known(client, url, [queue_name])
        return await action(await open_queue(queue_name, client))

    return _run(url, main)


# commands of their own modules, registered on ``cli`` as they are imported
from . import _cli_jobs, _cli_ops, _cli_queue, _cli_stats, _cli_web, _cli_worker  # noqa: E402, F401
