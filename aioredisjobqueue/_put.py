"""Producing: ``put`` and ``put_many``, the part of ``RedisJobQueue`` that queues jobs."""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any, Generic

from . import _args, _codec
from ._batch import SCRIPT_BYTES, SCRIPT_JOBS, Batcher, chunks
from ._errors import DuplicateJobError, NotReplicatedError
from ._payloads import P, PayloadCodec

if TYPE_CHECKING:
    from ._eviction import EvictionCheck
    from ._scripts import Scripts
    from ._shardcheck import ShardCheck

__all__ = ["Producing", "put_bytes"]


def put_bytes(job: tuple[str, bytes, int]) -> int:
    """The payload size of a put: (id, text, delay)."""
    return len(job[1])


class Producing(Generic[P]):
    """The calls that queue jobs; ``RedisJobQueue`` has them (it sets the attributes)."""

    _name: str
    _codec: PayloadCodec[P]
    _max_payload_bytes: int
    _min_replicas: int
    _replica_timeout_ms: int
    _scripts: Scripts
    _put_batcher: Batcher[tuple[str, bytes, int], bool]
    _check_eviction: EvictionCheck
    _check_shards: ShardCheck

    def _encode(self, value: Any, what: str = "payload") -> bytes:
        return _codec.encode_bounded(value, self._max_payload_bytes, what)

    async def put(self, payload: P, *, delay: float = 0.0, key: str | None = None) -> str:
        """Queue ``payload``; due after ``delay`` seconds. Return the job id.

        The id is the payload's content id, or with ``key`` (an idempotency key, a request
        id) the id of the key: then the key, not the content, makes the job unique.
        Raises ``DuplicateJobError`` while a job of that id is in the queue, ``TypeError`` or
        ``ValueError`` for a payload JSON cannot represent or that is too large, or a bad key.
        """
        delay_us = _args.delay_us(delay)
        text = self._encode(self._codec.to_json(payload))
        job_id = _codec.id_of(text) if key is None else _codec.key_id(key)
        await self._check_shards()
        await self._put_one(job_id, text, delay_us)
        return job_id

    async def _put_one(self, job_id: str, text: bytes, delay_us: int) -> None:
        """Queue one job, in a script call shared with other callers' puts."""
        await self._check_eviction()
        if not await self._put_batcher.submit((job_id, text, delay_us)):
            raise DuplicateJobError(queue_name=self._name, job_id=job_id)

    async def _send_puts(self, jobs: list[tuple[str, bytes, int]]) -> list[bool]:
        """One put.lua call; with ``min_replicas``, then WAIT, and ``NotReplicatedError``
        (naming the jobs it queued) when too few replicas confirmed them.

        A batch of several callers' puts fails as a whole then: each caller gets the error,
        whose ``job_ids`` say which jobs of the batch were queued."""
        if not self._min_replicas:
            return await self._scripts.put(jobs)
        added, acked = await self._scripts.put_replicated(
            jobs, self._min_replicas, self._replica_timeout_ms
        )
        if acked < self._min_replicas and any(added):
            raise NotReplicatedError(
                queue_name=self._name,
                job_ids=[job[0] for job, new in zip(jobs, added, strict=True) if new],
                replicas=acked,
                wanted=self._min_replicas,
            )
        return added

    async def put_many(
        self,
        payloads: Iterable[P],
        *,
        delay: float = 0.0,
        keys: Iterable[str | None] | None = None,
    ) -> list[str | None]:
        """Queue many payloads, in order; due after ``delay`` seconds.

        ``keys``, one per payload (None for content identity), choose their ids as ``put``'s
        ``key`` does. Returns, for each payload in order, its job id, or None where it was a
        duplicate (of a job in the queue, or of an earlier payload of the batch). Never
        raises for duplicates; any bad payload or key raises before anything is queued.

        The payloads go out in script calls of at most 1,000 jobs and 4 MiB each, one after
        another (one round trip for up to 1,000 small payloads), so that a large batch
        never keeps Redis busy. A call that raises after it started sending (a dropped
        connection, a Redis error, a cancellation) may have queued the payloads of the
        first script calls: the outcome of each is then unknown. Putting the same
        payloads again is safe, since each content is queued once; those already queued
        come back as None.
        """
        delay_us = _args.delay_us(delay)
        payloads = list(payloads)
        chosen = [None] * len(payloads) if keys is None else list(keys)
        if len(chosen) != len(payloads):
            raise ValueError(
                f"keys must have one key (or None) per payload: got {len(chosen)} keys "
                f"for {len(payloads)} payloads"
            )
        ids: list[str] = []
        batch: dict[str, tuple[str, bytes, int]] = {}
        for index, (payload, key) in enumerate(zip(payloads, chosen, strict=True)):
            try:
                text = self._encode(self._codec.to_json(payload))
            except (TypeError, ValueError) as exc:
                error = TypeError if isinstance(exc, TypeError) else ValueError
                raise error(f"payloads[{index}]: {exc}") from None
            job_id = _codec.id_of(text) if key is None else _codec.key_id(key, f"keys[{index}]")
            ids.append(job_id)
            batch.setdefault(job_id, (job_id, text, delay_us))
        if not batch:
            return []
        await self._check_shards()
        added = await self._put_batch(list(batch.values()))
        result: list[str | None] = []
        for job_id in ids:
            if added.get(job_id):
                result.append(job_id)
                added[job_id] = False  # a later equal payload of the batch is a duplicate
            else:
                result.append(None)
        return result

    async def _put_batch(self, jobs: list[tuple[str, bytes, int]]) -> dict[str, bool]:
        """Queue distinct jobs by script calls of bounded size: for each id, whether it was
        queued (False: a duplicate)."""
        await self._check_eviction()
        added: dict[str, bool] = {}
        for chunk in chunks(jobs, SCRIPT_JOBS, SCRIPT_BYTES, weight=put_bytes):
            added.update(zip((j[0] for j in chunk), await self._send_puts(chunk), strict=True))
        return added
