"""Commands on the jobs of one queue: put, peek, dead, requeue-dead, purge.

    aioredisjobqueue put NAME JSON [--delay S] [--key K] [--shards N]
    aioredisjobqueue peek NAME [-n N]
    aioredisjobqueue dead NAME [-n N]
    aioredisjobqueue requeue-dead NAME [ID ...]
    aioredisjobqueue purge NAME --yes

Registered on the ``cli`` group when ``aioredisjobqueue.cli`` is imported.
"""

from __future__ import annotations

import json
from typing import Any

import click

from . import _args, _codec
from ._errors import DuplicateJobError
from ._sharded import open_queue
from .cli import _iso, _json_line, _name, _queue_command, _run, cli, shards_option, url_option

__all__ = ["dead", "peek", "purge", "put", "requeue_dead"]


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
        died = _iso(letter.died_at, timespec="seconds")
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
