"""Commands for operators: ``health`` (exec probes) and ``workers`` (who is alive).

aioredisjobqueue health [--queue NAME ...] [--timeout S]
aioredisjobqueue workers [NAME ...] [--json]
"""

from __future__ import annotations

import dataclasses
import time
from typing import Any

import anyio
import click
from rich.console import Console
from rich.table import Table

from ._heartbeat import WorkerInfo
from ._inspect import queue_names
from ._queue import RedisJobQueue
from .cli import _json_line, _name, _run, _safe, cli, url_option

__all__ = ["health", "workers"]


@cli.command()
@click.option(
    "--queue",
    "-q",
    "queues",
    multiple=True,
    metavar="NAME",
    help="Also need a live worker that serves queue NAME (repeatable).",
)
@url_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0, min_open=True),
    default=5.0,
    show_default=True,
    help="Seconds to wait for Redis.",
)
def health(queues: tuple[str, ...], url: str, timeout: float) -> None:
    """Check health, for exec probes.

    Exits 0 when Redis answers and, with --queue, when a live worker (one that beats
    and is not stopping) serves each queue; otherwise prints the reason in one line and
    exits 1.
    """
    names = [_name(q) for q in queues]

    async def main(client: Any) -> dict[str, list[WorkerInfo]]:
        try:
            with anyio.fail_after(timeout):
                await client.ping()
                return {name: await _serving(client, name) for name in names}
        except TimeoutError:
            raise click.ClickException(
                f"Redis at {_safe(url)} did not answer within {timeout:g} s"
            ) from None

    found = _run(url, main)
    for name, live in found.items():
        if not live:
            raise click.ClickException(f"no live worker serves queue {name!r} at {_safe(url)}")
    click.echo(
        "ok: Redis answers"
        + "".join(f"; queue {n!r}: {len(live)} live worker(s)" for n, live in found.items())
    )


async def _serving(client: Any, name: str) -> list[WorkerInfo]:
    """The live workers of queue ``name`` that are not stopping."""
    return [w for w in await RedisJobQueue(name, redis=client).workers() if not w.stopping]


@cli.command()
@click.argument("names", nargs=-1, metavar="[NAME]...")
@url_option
@click.option("--json", "as_json", is_flag=True, help="One JSON object per worker and queue.")
def workers(names: tuple[str, ...], url: str, as_json: bool) -> None:
    """List the live workers of queues.

    Every worker that beat lately in each queue NAME (default: every queue that has one),
    with its host, pid, uptime, running jobs and counts of what its jobs did.
    """
    wanted = [_name(n) for n in names]

    async def main(client: Any) -> dict[str, list[WorkerInfo]]:
        found = wanted or await queue_names(client, with_workers=True)
        return {name: await RedisJobQueue(name, redis=client).workers() for name in found}

    listed = _run(url, main)
    if as_json:
        for name, infos in listed.items():
            for info in infos:
                record = {"queue": name} | dataclasses.asdict(info)
                click.echo(_json_line(record | {"queues": list(info.queues)}))
        return
    if not any(listed.values()):
        click.echo(f"no live workers at {_safe(url)}", err=True)
        return
    Console().print(_workers_table(listed, url))


def _workers_table(listed: dict[str, list[WorkerInfo]], url: str) -> Table:
    table = Table(title=f"{_safe(url)}  {time.strftime('%H:%M:%S')}", title_justify="left")
    table.add_column("queue")
    table.add_column("worker")
    table.add_column("host:pid")
    columns = ("up", "running", "completed", "retried", "dead", "lock lost", "last beat")
    for column in columns:
        table.add_column(column, justify="right")
    now = time.time()
    for name, infos in listed.items():
        for w in infos:
            counts = [w.counts.get(k, 0) for k in ("complete", "retry", "dead", "lock_lost")]
            table.add_row(
                name,
                w.id + (" (stopping)" if w.stopping else ""),
                f"{w.host}:{w.pid}",
                _duration(now - w.started_at),
                f"{w.running}/{w.concurrency}",
                *map(str, counts),
                f"{max(0.0, now - w.beat_at):.1f}s",
            )
    return table


def _duration(seconds: float) -> str:
    minutes, s = divmod(max(0, int(seconds)), 60)
    hours, m = divmod(minutes, 60)
    return f"{hours}:{m:02d}:{s:02d}"
