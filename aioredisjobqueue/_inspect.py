"""Inspecting a queue: counts, live workers, waiting jobs and dead letters, and the calls
that requeue, delete or purge them; the part of ``RedisJobQueue`` that looks at the queue
as a whole rather than at the jobs a consumer holds."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

from . import _args, _codec
from ._heartbeat import WorkerInfo
from ._keys import (
    MARKER_PATTERN,
    WORKERS_PATTERN,
    QueueKeys,
    queue_name_of_marker,
    queue_name_of_workers,
)
from ._records import DeadLetter, QueueStats, WaitingJob

if TYPE_CHECKING:
    from ._scripts import Scripts
    from ._shardcheck import ShardCheck

__all__ = ["QueueInspection", "queue_exists", "queue_names"]


class QueueInspection:
    """The inspecting calls; ``RedisJobQueue`` has them (it sets the attributes)."""

    _name: str
    _scripts: Scripts
    _check_shards: ShardCheck

    async def stats(self) -> QueueStats:
        """Count the queue's jobs by state, by the Redis server's clock."""
        await self._check_shards()
        ready, locked, delayed, dead = await self._scripts.stats()
        return QueueStats(ready=ready, locked=locked, delayed=delayed, dead=dead)

    async def workers(self) -> list[WorkerInfo]:
        """The live workers that serve this queue, soonest to expire first, as each last
        reported itself (every ``heartbeat`` seconds of its ``Worker``).

        A worker that stopped cleanly is gone at once; one that was killed drops out when
        its entry expires, three heartbeats after its last one.
        """
        return [WorkerInfo._from_fields(i, fields) for i, fields in await self._scripts.workers()]

    async def peek(self, count: int = 10) -> list[WaitingJob]:
        """The next ``count`` waiting jobs (ready, then delayed), in the order they become
        due, without taking them. Locked jobs are not shown."""
        _args.positive_int(count, "count")
        await self._check_shards()
        return [
            WaitingJob(job_id, _codec.decode(payload), due_us / 1_000_000)
            for job_id, payload, due_us in await self._scripts.peek(count)
        ]

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        """The dead-lettered jobs, oldest first; at most ``limit`` of them (None: all)."""
        if limit is not None:
            _args.positive_int(limit, "limit")
        await self._check_shards()
        return [
            DeadLetter(e.id, _codec.decode(e.payload), e.deliveries, e.died_at_us / 1e6, e.error)
            for e in await self._scripts.dead(limit)
        ]

    async def requeue_dead(self, job_ids: Iterable[str] | None = None) -> int:
        """Put dead-lettered jobs back in the queue, due now, with their deliveries reset.

        ``job_ids`` picks which (default: all). Returns how many were requeued.
        """
        ids = _dead_ids(job_ids)
        if ids == []:
            return 0
        await self._check_shards()
        return await self._scripts.requeue_dead(ids or [])

    async def delete_dead(self, job_ids: Iterable[str] | None = None) -> int:
        """Remove dead-lettered jobs for good. ``job_ids`` picks which (default: all).

        Returns how many were deleted; ids that are no dead letter of the queue are skipped.
        """
        ids = _dead_ids(job_ids)
        if ids == []:
            return 0
        await self._check_shards()
        return await self._scripts.delete_dead(ids or [])

    async def purge(self) -> int:
        """Remove every job of the queue, in any state, at once. Returns how many there were.

        Consumers holding jobs then get ``LockLostError`` when they complete them. The
        registrations of idle consumers for the hand-off go too: they register again at
        their next read, and new jobs reach them by a wake-up meanwhile.
        """
        await self._check_shards()
        return await self._scripts.purge()


async def queue_names(client: Any, *, with_workers: bool = False) -> list[str]:
    """The names of every queue in the database (on a cluster: on every primary), sorted:
    the queues anything was ever put in, or with ``with_workers`` the queues that have a
    list of workers."""
    pattern, name_of = (
        (WORKERS_PATTERN, queue_name_of_workers)
        if with_workers
        else (MARKER_PATTERN, queue_name_of_marker)
    )
    names = set()
    async for key in client.scan_iter(match=pattern, count=1000):
        name = name_of(key.decode() if isinstance(key, bytes) else key)
        if name is not None:
            names.add(name)
    return sorted(names)


async def queue_exists(client: Any, name: str) -> bool:
    """Whether ``name`` is a queue on ``client``: anything was ever put in it (its marker, or
    a key that holds jobs or their errors, is there). One EXISTS."""
    keys = QueueKeys(name)
    return bool(await client.exists(keys.marker, *keys.all()))


def _dead_ids(job_ids: Iterable[str] | None) -> list[str] | None:
    """The checked ids of ``job_ids``, or None for all dead letters."""
    if job_ids is None:
        return None
    return [_args.job_id(i, f"job_ids[{n}]") for n, i in enumerate(job_ids)]
