"""Commands on one job by its id: status, cancel, result.

    aioredisjobqueue status NAME ID|--key K
    aioredisjobqueue cancel NAME ID|--key K
    aioredisjobqueue result NAME ID|--key K [--timeout S]

Registered on the ``cli`` group when ``aioredisjobqueue.cli`` is imported.
"""

from __future__ import annotations

from typing import Any

import click

from . import _args, _codec
from ._errors import DeadJobError, JobNotFoundError
from ._queue import RedisJobQueue
from ._status import JobStatus
from .cli import _iso, _json_line, _queue_command, cli, url_option

__all__ = ["cancel", "result", "status"]


def _id(value: str | None, key: str | None) -> str:
    """The job id given as ID, or computed from --key."""
    if (value is None) == (key is None):
        raise click.UsageError("give the job's ID or its --key, one of them")
    try:
        return _args.job_id(value, "ID") if key is None else _codec.key_id(key)
    except (TypeError, ValueError) as exc:
        raise click.BadParameter(str(exc), param_hint="ID" if key is None else "--key") from None


key_option = click.option("--key", help="The job's chosen key, in place of its ID.")


def _record(found: JobStatus) -> dict[str, Any]:
    record: dict[str, Any] = {"id": found.id, "state": found.state}
    record["deliveries"] = found.deliveries
    for name in ("due_at", "lock_expires_at", "died_at", "completed_at"):
        at = getattr(found, name)
        if at is not None:
            record[name] = _iso(at)
    return record | {"last_error": found.last_error}


@cli.command()
@click.argument("name")
@click.argument("job_id", metavar="[ID]", required=False)
@key_option
@url_option
def status(name: str, job_id: str | None, key: str | None, url: str) -> None:
    """Print where a job is.

    One JSON object: id, state (waiting, delayed, locked, dead or completed), deliveries,
    the time it is due, its lock expires, it died or it completed (UTC), and its last error.
    """
    chosen = _id(job_id, key)
    found = _queue_command(name, url, lambda q: q.status(chosen))
    if found is None:
        raise click.ClickException(f"no job {chosen} in queue {name!r}")
    click.echo(_json_line(_record(found)))


@cli.command()
@click.argument("name")
@click.argument("job_id", metavar="[ID]", required=False)
@key_option
@url_option
def cancel(name: str, job_id: str | None, key: str | None, url: str) -> None:
    """Remove a job from a queue at once.

    A waiting, delayed or dead job is removed; a locked one is revoked: its worker loses
    the lock and cancels its handler at the next lock renewal.
    """
    chosen = _id(job_id, key)
    if not _queue_command(name, url, lambda q: q.cancel(chosen)):
        raise click.ClickException(f"no job {chosen} in queue {name!r}")
    click.echo(f"cancelled job {chosen} in queue {name!r}")


@cli.command()
@click.argument("name")
@click.argument("job_id", metavar="[ID]", required=False)
@key_option
@url_option
@click.option(
    "--timeout",
    type=click.FloatRange(min=0),
    help="Seconds to wait for it [default: no limit].",
)
def result(name: str, job_id: str | None, key: str | None, url: str, timeout: float | None) -> None:
    """Wait for the result of a job and print it as JSON."""
    chosen = _id(job_id, key)

    async def wait(queue: RedisJobQueue) -> Any:
        try:
            return await queue.result(chosen, timeout=timeout)
        except TimeoutError:
            raise click.ClickException(
                f"no result of job {chosen} in queue {name!r} within {timeout:g} s"
            ) from None
        except (JobNotFoundError, DeadJobError) as exc:
            raise click.ClickException(str(exc)) from None

    click.echo(_json_line(_queue_command(name, url, wait)))
