"""``aioredisjobqueue web``: serve the dashboard (``aioredisjobqueue.web``) with uvicorn."""

from __future__ import annotations

from typing import Any

import click

from ._keys import validate_queue_name
from .cli import _run, _safe, cli, url_option

__all__ = ["web"]

_INSTALL = "pip install 'aioredisjobqueue[web]'"


@cli.command()
@url_option
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option(
    "--queue",
    "-q",
    "queues",
    multiple=True,
    help="Show only this queue (repeat for more) [default: every queue].",
)
@click.option(
    "--enable-actions",
    is_flag=True,
    help="Allow requeueing and deleting dead letters from the pages.",
)
@click.option(
    "--refresh",
    type=click.FloatRange(min=0.2),
    default=2.0,
    show_default=True,
    help="Seconds between updates of the figures on the pages.",
)
def web(
    url: str, host: str, port: int, queues: tuple[str, ...], enable_actions: bool, refresh: float
) -> None:
    """Serve the web dashboard until Ctrl-C.

    Queues with their counts, rates and workers; jobs waiting, delayed and locked; dead
    letters, which --enable-actions lets you requeue or delete. It listens on 127.0.0.1 by
    default: it has no login of its own, so put it behind one before you listen further.
    """
    try:
        import uvicorn

        from .web import app
    except ModuleNotFoundError as exc:
        if exc.name not in ("starlette", "uvicorn"):
            raise
        raise click.ClickException(f"the dashboard needs {exc.name}: {_INSTALL}") from None
    for name in queues:
        try:
            validate_queue_name(name)
        except ValueError as exc:
            raise click.BadParameter(str(exc), param_hint="--queue") from None

    async def ping(client: Any) -> None:
        await client.ping()

    _run(url, ping)  # one clear line now rather than errors on every page
    dashboard = app(url=url, queues=list(queues) or None, actions=enable_actions, refresh=refresh)
    actions = "on" if enable_actions else "off"
    click.echo(f"dashboard of {_safe(url)} on http://{host}:{port}/ (actions {actions})", err=True)
    uvicorn.run(dashboard, host=host, port=port, log_level="warning")
