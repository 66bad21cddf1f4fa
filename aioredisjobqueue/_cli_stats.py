"""``aioredisjobqueue stats``: the jobs of queues by state, once or refreshed.

    aioredisjobqueue stats [NAME ...] [--watch] [--interval S] [--json]

Registered on the ``cli`` group when ``aioredisjobqueue.cli`` is imported.
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
import time
from collections.abc import Callable, Coroutine, Sequence
from typing import Any

import click
from rich.console import Console
from rich.live import Live
from rich.table import Table

from ._inspect import queue_names
from ._queue import QueueStats, RedisJobQueue
from ._sharded import open_queue
from .cli import _json_line, _known, _name, _run, _safe, cli, url_option

__all__ = ["stats"]


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
