"""The queue's Lua scripts, one typed wrapper each (``Scripts``).

Every state change of a queue is one script call, so it is atomic and one round trip.
``_lua`` loads and runs one script; ``_replies`` holds the types its replies are read into,
importable from here too.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from ._deployment import Deployment, Fixed
from ._keys import QueueKeys
from ._lua import _Script
from ._replies import (
    Completion,
    DeadEntry,
    Delivery,
    Page,
    PageEntry,
    _hex,
    _key,
    _pairs,
    _records,
    _text,
    deliveries,
)
from ._route import Caller

__all__ = ["Completion", "DeadEntry", "Delivery", "Page", "PageEntry", "Scripts", "deliveries"]


class Scripts:
    """The scripts of one queue, bound to its client and keys."""

    def __init__(
        self, client: Any, keys: QueueKeys, pipe: Caller | None = None, *, sharded: bool = False
    ) -> None:
        """``client`` is a queue's ``Deployment`` (which says itself what it runs on), or a
        redis.asyncio client with the ``pipe`` to send on and whether channels are shard
        channels (``sharded``)."""
        k = keys
        line = client if isinstance(client, Deployment) else Fixed(client, pipe, sharded)
        # the channel arguments of the scripts (see publish() in lua/prelude.lua): on a
        # Redis Cluster, shard channels of the queue's slot
        self._channels = {
            sharded: tuple(f"{'SPUBLISH' if sharded else 'PUBLISH'} {c}" for c in (k.wake, k.done))
            for sharded in (False, True)
        }
        put_keys = (
            *(k.waiting, k.payloads, k.marker, k.locked, k.dead, k.state, k.errors, k.ready),
            k.waiters,
        )
        self._put = _Script(line, "put", put_keys)
        get_keys = (k.waiting, k.locked, k.payloads, k.state, k.dead, k.ready)
        self._get = _Script(line, "get", get_keys)
        self._extend = _Script(line, "extend", (k.locked, k.state))
        self._release = _Script(
            line, "release", (k.waiting, k.locked, k.state, k.dead, k.errors, k.ready)
        )
        self._complete_keys = (k.locked, k.payloads, k.state, k.errors)
        self._complete = _Script(line, "complete", self._complete_keys)
        self._stats = _Script(line, "stats", (k.waiting, k.locked, k.dead, k.ready))
        self._dead = _Script(line, "dead", (k.payloads, k.state, k.dead, k.errors))
        self._requeue_dead = _Script(line, "requeue_dead", (k.ready, k.state, k.dead))
        self._purge = _Script(line, "purge", (*k.all(), k.waiters))
        self._peek = _Script(line, "peek", (k.waiting, k.payloads, k.ready))
        self._line, self._keys = line, keys
        self._workers = _Script(line, "workers", (k.workers,))
        self._cancel = _Script(line, "cancel", k.all())  # in the order cancel.lua names them
        self._dead_letter = _Script(line, "dead_letter", (k.locked, k.state, k.dead, k.errors))
        tick_keys = (
            *(k.ticks, k.waiting, k.payloads, k.marker, k.locked, k.dead, k.state, k.errors),
            k.ready,
        )
        self._tick = _Script(line, "tick", tick_keys)
        self._delete_dead = _Script(line, "delete_dead", (k.dead, k.payloads, k.state, k.errors))
        # the waiting jobs' pages read the ready list too
        zsets = {"waiting": (k.waiting, k.ready), "locked": (k.locked,), "dead": (k.dead,)}
        self._page = {
            zset: _Script(line, "page", (key, k.payloads, k.state, k.errors, *more))
            for zset, (key, *more) in zsets.items()
        }

    async def ready(self) -> None:
        """Settle what the queue runs on (see ``_deployment``): before the first call that
        builds channel arguments, and before ``complete_call``, ``get_call`` or ``pipe``."""
        if self._line.pending:
            await self._line.ready()

    @property
    def _wake(self) -> str:
        return self._channels[self._line.sharded][0]

    @property
    def _done(self) -> str:
        return self._channels[self._line.sharded][1]

    async def put(self, jobs: list[tuple[str, bytes, int]]) -> list[bool]:
        """Queue each (id, text, delay µs) not in the queue yet; True for each one queued."""
        await self.ready()  # the channel arguments depend on it
        return [bool(a) for a in await self._put(*self._put_args(jobs))]

    async def put_replicated(
        self, jobs: list[tuple[str, bytes, int]], replicas: int, timeout_ms: int
    ) -> tuple[list[bool], int]:
        """``put``, then WAIT for ``replicas`` replicas at most ``timeout_ms`` ms:
        (True for each job queued, how many replicas confirmed the call)."""
        await self.ready()  # the channel arguments depend on it
        reply, acked = await self._put.replicated(replicas, timeout_ms, *self._put_args(jobs))
        return [bool(a) for a in reply], acked

    def _put_args(self, jobs: list[tuple[str, bytes, int]]) -> list[Any]:
        args: list[Any] = [self._wake]
        for job_id, text, delay_us in jobs:
            args.extend((_key(job_id), text, delay_us))
        return args

    @property
    def pipe(self) -> Caller | None:
        """The pipelined connection the scripts run on (None: the client's pool)."""
        return self._line.pipe

    def get_call(
        self, count: int, lock_ms: int, token: str, max_deliveries: int
    ) -> tuple[_Script, tuple[Any, ...]]:
        """The script that ``get`` runs and its arguments."""
        return self._get, (count, lock_ms, token, max_deliveries, self._done)

    async def get(
        self,
        count: int,
        lock_ms: int,
        token: str,
        max_deliveries: int,
        *,
        orphan: Callable[[list[Delivery]], None] | None = None,
    ) -> list[Delivery]:
        """Lock up to ``count`` due jobs under ``token``.

        ``orphan`` receives the jobs taken if the caller is cancelled while the call runs.
        """
        await self.ready()  # the channel arguments depend on it

        if not count:
            return []

        def adopt(flat: Any) -> None:
            assert orphan is not None
            orphan(deliveries(flat, token))

        flat = await self._get(
            count,
            lock_ms,
            token,
            max_deliveries,
            self._done,
            orphan=None if orphan is None else adopt,
        )
        return deliveries(flat, token)

    async def extend(self, job_id: str, token: str, lock_ms: int) -> bool:
        """Move the lock expiry to ``lock_ms`` from now; False if ``token`` lost the job."""
        return bool(await self._extend(_key(job_id), token, lock_ms))

    async def release(
        self,
        job_id: str,
        token: str,
        delay_us: int,
        max_deliveries: int,
        *,
        undo: bool = False,
        error: str = "",
    ) -> int:
        """Give the job back: 1 waiting again, 2 dead-lettered, 0 ``token`` lost it.

        ``undo`` takes back the delivery too, for a job that never reached its consumer;
        ``error`` (if not empty) becomes the job's last error.
        """
        await self.ready()  # the channel arguments depend on it
        args = (_key(job_id), token, delay_us, max_deliveries, self._wake, 1 if undo else 0)
        return int(await self._release(*args, error, self._done))

    async def complete(self, held: list[Completion]) -> list[bool]:
        """Remove each job its token holds, keeping its result; True for each one removed."""
        await self.ready()  # the channel arguments depend on it
        script, args = self.complete_call(held)
        return [bool(d) for d in await script(*args)]

    def complete_call(self, held: list[Completion]) -> tuple[_Script, list[Any]]:
        """The script that completes ``held`` and its arguments (once ``ready()``)."""
        args: list[bytes | str | int] = [self._done]
        result_keys: list[str] = []
        for c in held:
            args.extend((_key(c.id), c.token, c.ttl_ms, b"" if c.result is None else c.result))
            if c.ttl_ms:
                result_keys.append(self._keys.result(c.id))
        script = self._complete
        if result_keys:  # the result keys of this call are keys of the script too
            keys = (*self._complete_keys, *result_keys)
            script = _Script(self._line, "complete", keys)
        return script, args

    async def stats(self) -> tuple[int, int, int, int]:
        """(ready, locked, delayed, dead) by the server's clock."""
        ready, locked, delayed, dead = await self._stats()
        return int(ready), int(locked), int(delayed), int(dead)

    async def dead(self, limit: int | None) -> list[DeadEntry]:
        """Dead-lettered jobs, oldest first, at most ``limit`` of them (None: all)."""
        flat = await self._dead(-1 if limit is None else limit - 1)
        return [
            DeadEntry(
                _hex(key),
                payload,
                int(deliveries),
                int(float(died_at)),
                None if error is None else _text(error),
            )
            for key, payload, deliveries, died_at, error in _records(flat, 5)
        ]

    async def requeue_dead(self, job_ids: list[str]) -> int:
        """Put the dead jobs ``job_ids`` (empty: all) back, due now; how many moved."""
        await self.ready()  # the channel arguments depend on it
        return int(await self._requeue_dead(self._wake, *map(_key, job_ids)))

    async def delete_dead(self, job_ids: list[str]) -> int:
        """Remove the dead jobs ``job_ids`` (empty: all) for good; how many went."""
        await self.ready()  # the channel arguments depend on it
        return int(await self._delete_dead(self._done, *map(_key, job_ids)))

    async def page(self, zset: str, part: str, start: int, count: int, cut: int) -> Page:
        """Jobs ``start`` to ``start + count`` of the ``part`` ('due', 'later' or 'all') of
        the zset ``zset`` ('waiting', 'locked' or 'dead'), payloads cut to ``cut`` bytes;
        the waiting jobs' 'due' and 'all' parts hold the ready list's jobs too."""
        now, total, *flat = await self._page[zset](part, start, count, cut)
        entries = [
            PageEntry(
                _hex(key),
                preview,
                int(size),
                int(deliveries),
                int(float(score)),
                None if error is None else _text(error),
                None if task is None else _text(task),
            )
            for key, preview, size, deliveries, score, error, task in _records(flat, 7)
        ]
        return Page(int(now), int(total), entries)

    async def peek(self, count: int) -> list[tuple[str, bytes | str, int]]:
        """(id, payload, due time µs) of the next ``count`` waiting jobs, in due order."""
        flat = await self._peek(count)
        return [(_hex(key), payload, int(float(due))) for key, payload, due in _records(flat, 3)]

    async def beat(self, worker_id: str, ttl_ms: int, fields: dict[str, str]) -> int:
        """Report the worker ``worker_id`` alive for ``ttl_ms`` with ``fields``; returns the
        expiry of its entry (µs, server clock)."""
        keys = (self._keys.workers, self._keys.worker(worker_id))
        args = [worker_id, ttl_ms, *(x for pair in fields.items() for x in pair)]
        return int(await _Script(self._line, "beat", keys)(*args))

    async def keep_trace(self, job_id: str, context: str, ttl_ms: int) -> bool:
        """Keep the trace ``context`` of job ``job_id`` for ``ttl_ms``; False if the job is
        not in the queue."""
        keys = (self._keys.payloads, self._keys.trace(job_id))
        script = _Script(self._line, "trace", keys)
        return bool(await script(_key(job_id), context, ttl_ms))

    async def unbeat(self, worker_id: str) -> bool:
        """Remove the entry of the worker ``worker_id``; False if it had expired."""
        keys = (self._keys.workers, self._keys.worker(worker_id))
        return bool(await _Script(self._line, "unbeat", keys)(worker_id))

    async def workers(self) -> list[tuple[str, dict[str, str]]]:
        """(id, fields) of each live worker, soonest to expire first."""
        flat = await self._workers(self._keys.worker_prefix)
        return [(_text(worker), _pairs(fields)) for worker, fields in _records(flat, 2)]

    async def tick(self, schedule: str, tick_us: int, job_id: str, text: bytes) -> int:
        """Queue the job of a schedule's tick: 1 queued, 0 that tick (or a later one) was
        queued before, 2 tick recorded but equal content still queued."""
        await self.ready()  # the channel arguments depend on it
        return int(await self._tick(schedule, tick_us, _key(job_id), text, self._wake))

    async def purge(self) -> int:
        """Remove every job of the queue, and the hand-off registrations; how many jobs
        there were."""
        return int(await self._purge())

    async def status(self, job_id: str) -> list[Any] | None:
        """[state, deliveries, time µs, last error] of a job, or None (see status.lua)."""
        k = self._keys
        keys = (
            k.waiting,
            k.locked,
            k.payloads,
            k.state,
            k.dead,
            k.errors,
            k.result(job_id),
            k.ready,
        )
        reply: list[Any] | None = await _Script(self._line, "status", keys)(_key(job_id))
        return reply

    async def result(self, job_id: str) -> list[Any] | None:
        """['pending'], ['dead', error], ['done', kept result] or None (see result.lua)."""
        k = self._keys
        keys = (k.payloads, k.dead, k.errors, k.result(job_id))
        reply: list[Any] | None = await _Script(self._line, "result", keys)(_key(job_id))
        return reply

    async def cancel(self, job_id: str) -> bool:
        """Remove the job whatever its state; False if there was none."""
        await self.ready()  # the channel arguments depend on it
        return bool(await self._cancel(_key(job_id), self._done))

    async def dead_letter(self, job_id: str, token: str, error: str) -> bool:
        """Move a job ``token`` holds to the dead letters; False if the token lost it."""
        await self.ready()  # the channel arguments depend on it
        return bool(await self._dead_letter(_key(job_id), token, error, self._done))
