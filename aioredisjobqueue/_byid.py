"""Jobs by id: ``status``, ``cancel`` and ``result``, the part of ``RedisJobQueue`` that
works on one job named by its id rather than on the jobs a consumer holds."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from . import _args
from ._status import JobStatus, parse_status

if TYPE_CHECKING:
    from ._results import DoneChannel
    from ._scripts import Scripts
    from ._shardcheck import ShardCheck

__all__ = ["JobsById"]


class JobsById:
    """The calls on one job by its id; ``RedisJobQueue`` has them (it sets the attributes)."""

    _name: str
    _scripts: Scripts
    _done: DoneChannel
    _check_shards: ShardCheck

    async def status(self, job_id: str) -> JobStatus | None:
        """Where the job ``job_id`` is: a ``JobStatus``, or None if the queue has no such
        job and keeps no result of it. Raises ``ValueError`` for a malformed id."""
        job_id = _args.job_id(job_id, "job_id")
        await self._check_shards()
        return parse_status(job_id, await self._scripts.status(job_id))

    async def cancel(self, job_id: str) -> bool:
        """Remove the job ``job_id`` at once, waiting, delayed, dead or locked, with its last
        error; return whether the queue had it.

        A locked job is revoked: its holder's next ``extend``, ``release`` or ``complete``
        raises ``LockLostError``, and a ``Worker`` cancels its handler at the next lock
        renewal (within a third of its ``lock_timeout``). A kept result stays.
        """
        job_id = _args.job_id(job_id, "job_id")
        await self._check_shards()
        return await self._scripts.cancel(job_id)

    async def result(self, job_id: str, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        """Wait for the result of job ``job_id`` and return it (a JSON value).

        Returns at once if a result is kept and the job is not queued again. Waits on the
        queue's done channel, not by polling, for at most ``timeout`` seconds (None: no
        limit; 0: look once), then raises ``TimeoutError``. Raises ``JobNotFoundError`` if
        the job is not in the queue and no result of it is kept (never put, completed
        without a result, result expired, cancelled: also while waiting), ``DeadJobError``
        (with its ``error``) if it is or becomes a dead letter. A Redis restart while it
        waits is ridden out (it looks again once its subscription is back).
        """
        job_id = _args.job_id(job_id, "job_id")
        seconds = None if timeout is None else _args.seconds(timeout, "timeout")
        await self._check_shards()
        return await self._done.wait_result(self._scripts, self._name, job_id, seconds)
