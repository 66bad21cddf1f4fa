"""RedisJobQueue: a queue of unique JSON jobs under expiring locks, on one connection pool."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import secrets
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from types import TracebackType
from typing import Any, Generic, Self, cast

from redis.asyncio import Redis

from . import _args, _codec
from ._batch import SCRIPT_BYTES, Batcher
from ._byid import JobsById
from ._chain import Chain
from ._client import DEFAULT_MAX_CONNECTIONS, client_for
from ._deployment import Deployment
from ._errors import LockLostError
from ._eviction import EvictionCheck
from ._inbox import Inbox
from ._inspect import QueueInspection
from ._job import Job
from ._keys import QueueKeys, validate_queue_name
from ._link import QueueLink
from ._payloads import P, PayloadCodec, resolve_codec
from ._pipe import Pipe
from ._poll import Poller
from ._put import Producing, put_bytes
from ._records import DeadLetter, QueueStats, WaitingJob
from ._results import DEFAULT_RESULT_TTL, NO_RESULT, DoneChannel, ttl_ms
from ._round import complete_take
from ._scripts import Completion, Delivery, Scripts
from ._shardcheck import ShardCheck
from ._status import bound_error
from ._take import Taker
from ._transient import CAUGHT
from ._wake import Waker

__all__ = ["DeadLetter", "QueueStats", "RedisJobQueue", "WaitingJob"]

logger = logging.getLogger("aioredisjobqueue")

DEFAULT_MAX_PAYLOAD_BYTES = 1024 * 1024
# How many calls of one kind at most share a round trip.
_BATCH_ITEMS = 256
# The most jobs one get_many() may ask for.
MAX_GET = 1_000_000


class RedisJobQueue(Producing[P], JobsById, QueueInspection, Generic[P]):
    """A queue of unique JSON jobs on Redis, taken under locks that expire by themselves.

    Payloads are JSON values (``RedisJobQueue[Any]``), or instances of a type ``P`` stored
    as JSON by a ``codec`` (a ``PayloadCodec``), or by the one ``payload_type`` picks (for a
    dataclass or a pydantic model): ``RedisJobQueue[P]``, whose jobs are ``Job[P]``.

    Connect by ``url`` (``redis://``, ``rediss://``, with ``user:password@``), by
    ``redis_host``/``redis_port``/``redis_db``, or hand over a ``redis.asyncio.Redis`` (or
    ``RedisCluster``) as ``redis``, which the queue then never closes. ``cluster=True`` (or a
    ``redis+cluster://host:port`` URL) reaches a Redis Cluster through any of its nodes;
    ``sentinels=[(host, port), …]`` with ``service_name`` (or a
    ``redis+sentinel://host:port,host:port/SERVICE/DB`` URL) the primary Sentinel names,
    following it through failovers. A queue that made its
    own client keeps all its calls on one ``BlockingConnectionPool`` of ``max_connections``
    and closes it in ``aclose()`` or at the end of ``async with``.

    ``max_deliveries`` (default: no limit) moves a job taken that many times without being
    completed to the dead letters. ``max_payload_bytes`` bounds a payload's JSON text (and a
    result's). ``result_ttl`` is how many seconds a result given to ``complete`` is kept by
    default (one day).

    ``min_replicas`` (default 0: off) makes ``put`` and ``put_many`` wait, with Redis
    ``WAIT`` on the connection that queued the jobs, until that many replicas confirmed
    them, for ``replica_timeout`` seconds at most, and raise ``NotReplicatedError`` when
    fewer did: acknowledged jobs then survive a failover (on a Redis Cluster, the WAIT goes
    to the primary that owns the queue's slot).

    ``shards`` (default 1) spreads the queue over that many shards, each under a hash tag
    of its own, so that on a Redis Cluster its jobs spread over the masters: a job goes to
    the shard of its id, gets take from every shard in turn, and order holds within a
    shard only. The number is stored in Redis at the queue's first use; opening the queue
    with another raises ``ShardsMismatchError``.
    """

    def __new__(cls, *args: Any, shards: int = 1, **kwargs: Any) -> Self:
        if cls is RedisJobQueue and _args.shards(shards) > 1:
            from ._sharded import ShardedJobQueue

            return cast(Self, object.__new__(ShardedJobQueue))
        return object.__new__(cls)

    def __init__(
        self,
        queue_name: str,
        *,
        redis_host: str | None = None,
        redis_port: int | None = None,
        redis_db: int | None = None,
        url: str | None = None,
        redis: Redis | Any | None = None,
        cluster: bool = False,
        sentinels: Sequence[tuple[str, int]] | None = None,
        service_name: str | None = None,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        max_deliveries: int | None = None,
        max_payload_bytes: int = DEFAULT_MAX_PAYLOAD_BYTES,
        result_ttl: float = DEFAULT_RESULT_TTL,
        payload_type: type[P] | None = None,
        codec: PayloadCodec[P] | None = None,
        min_replicas: int = 0,
        replica_timeout: float = 0.1,
        shards: int = 1,
    ) -> None:
        self._name = validate_queue_name(queue_name)
        self._shard_count = _args.shards(shards)
        self._codec: PayloadCodec[P] = resolve_codec(payload_type, codec)
        _args.positive_int(max_connections, "max_connections")
        self._max_deliveries = (
            0 if max_deliveries is None else _args.positive_int(max_deliveries, "max_deliveries")
        )
        self._max_payload_bytes = _args.positive_int(max_payload_bytes, "max_payload_bytes")
        self._result_ttl_ms = ttl_ms(result_ttl, "result_ttl")
        self._min_replicas = _args.count(min_replicas, "min_replicas")
        self._replica_timeout_ms = math.ceil(
            _args.positive_seconds(replica_timeout, "replica_timeout") * 1000
        )
        if not isinstance(cluster, bool):
            raise TypeError(f"cluster must be a bool, got {cluster!r}")
        self._client = client_for(
            redis_host=redis_host,
            redis_port=redis_port,
            redis_db=redis_db,
            url=url,
            redis=redis,
            max_connections=max_connections,
            cluster=cluster,
            sentinels=sentinels,
            service_name=service_name,
        )
        self._wire(QueueKeys(self._name), max_connections)
        # new jobs handed straight to idle consumers (a sharded queue's puts go to its
        # shards' keys: its consumers poll and wait for wake-ups instead)
        # (on a cluster too: the inbox reads on the primary of the queue's slot)
        blocking = self._shard_count == 1 and self._client.blocking(max_connections) is not None
        self._inbox = Inbox(self._line, self._keys, self._adopt) if blocking else None
        # warns once if Redis may evict the queue's keys: at the first put or get
        self._check_eviction = EvictionCheck(self._line.command, self._name)
        self._check_shards = ShardCheck(self._line, self._keys, self._shard_count)

    def _wire(self, keys: QueueKeys, max_connections: int, of: Deployment | None = None) -> None:
        """Make the parts that work on the keys ``keys``: scripts, batchers, taker and
        subscriptions. A shard of a sharded queue goes through the queue's deployment
        ``of``: it shares the queue's pipe on one node; on a cluster it makes its own, to
        the primary of its slot."""
        self._keys = keys
        # its client, pipe (on a cluster: route to its slot's primary) and subscriber
        self._line = Deployment(self._client, keys.waiting, max_connections, of=of)
        self._scripts = Scripts(self._line, keys)
        self._put_batcher: Batcher[tuple[str, bytes, int], bool] = Batcher(
            self._send_puts,
            max_items=_BATCH_ITEMS,
            weight=put_bytes,
            max_weight=SCRIPT_BYTES,
        )
        self._complete_batcher: Batcher[Completion, bool] = Batcher(
            self._scripts.complete, max_items=_BATCH_ITEMS
        )
        self._taker = Taker(self._scripts, self._max_deliveries, self._adopt)
        self._chain = Chain(self._scripts, self._max_deliveries, self._adopt)
        self._orphans: set[asyncio.Task[None]] = set()  # hand-backs of _adopt()
        subscriber = self._line if self._line.subscribes else None
        self._waker = Waker(subscriber, self._keys.wake)
        self._done = DoneChannel(subscriber, self._keys.done)

    @property
    def name(self) -> str:
        """The queue's name."""
        return self._name

    @property
    def redis(self) -> Any:
        """The ``redis.asyncio`` client the queue runs on (for a ``redis://`` URL of a
        cluster node: a ``RedisCluster`` from the queue's first call on)."""
        return self._line.redis

    @property
    def codec(self) -> PayloadCodec[P]:
        """The codec between payloads and the JSON values stored for them."""
        return self._codec

    @property
    def keys(self) -> QueueKeys:
        """The Redis key names of this queue."""
        return self._keys

    @property
    def shards(self) -> int:
        """How many shards the queue has (1 unless it was opened with ``shards=N``)."""
        return self._shard_count

    @property
    def shard_keys(self) -> tuple[QueueKeys, ...]:
        """The key names of each shard, in shard order (one shard: ``(keys,)``)."""
        return (self._keys,)

    def _shard_of(self, job_id: str) -> RedisJobQueue[P]:
        """The queue core that holds the job ``job_id`` (hex): this queue, or on a sharded
        queue the job's shard."""
        return self

    async def aclose(self) -> None:
        """Close the connection pool the queue made; a client given as ``redis`` stays open.

        Calls still batched are sent first, and the wake-up subscription stops.
        """
        if self._inbox is not None:
            await self._inbox.aclose()
        await self._waker.aclose()
        await self._done.aclose()
        await self._put_batcher.aclose()
        await self._complete_batcher.aclose()
        await self._taker.aclose()
        await self._chain.aclose()
        while self._orphans:
            await asyncio.gather(*self._orphans, return_exceptions=True)
        await self._line.aclose()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    # -- consuming -------------------------------------------------------------------

    async def get(self, lock_timeout: float = 1000) -> Job[P] | None:
        """Take the next due job, locked for ``lock_timeout`` ms; None at once if none is due.

        The lock expires by the Redis server's clock; the job is then due again for any
        consumer. Does not wait for a job: see ``consume()``.
        """
        jobs = await self.get_many(1, lock_timeout=lock_timeout)
        return jobs[0] if jobs else None

    async def get_many(self, count: int, *, lock_timeout: float = 1000) -> list[Job[P]]:
        """Take up to ``count`` due jobs (at most 1,000,000), oldest-due first.

        Each is locked for ``lock_timeout`` ms. Returns an empty list at once if none is due.
        Up to 1,000 jobs take one round trip; more are taken by script calls of 1,000, one
        after another, until one finds fewer due. If a later one fails, the jobs the
        earlier ones took are returned (the error comes again at the next call); if the
        caller is cancelled, they are given back.
        """
        _args.positive_int(count, "count")
        if count > MAX_GET:
            raise ValueError(f"count must be <= {MAX_GET}, got {count!r}")
        lock_ms = _args.lock_ms(lock_timeout)
        await self._check_shards()
        await self._check_eviction()
        return self._jobs(await self._take(count, lock_ms))

    def _jobs(self, taken: list[Delivery]) -> list[Job[P]]:
        """The jobs of deliveries, as consumers get them."""
        return [
            Job(
                self,
                d.id,
                _codec.decode(d.payload),
                d.deliveries,
                d.token,
                pickup_delay=d.waited_us / 1_000_000,
            )
            for d in taken
        ]

    async def _take(self, count: int, lock_ms: int) -> list[Delivery]:
        """Lock up to ``count`` due jobs for ``lock_ms`` ms."""
        return await self._taker.take(count, lock_ms)

    async def _complete_take(
        self, held: list[Completion], count: int, lock_ms: int
    ) -> tuple[list[bool], list[Delivery], Exception | None]:
        """Complete ``held``, then take up to ``count`` jobs (at most 1,000) for ``lock_ms``,
        in one round trip: see ``_round.complete_take``."""
        return await complete_take(
            self._scripts,
            held,
            count,
            lock_ms,
            secrets.token_hex(8),
            self._max_deliveries,
            orphan=self._adopt,
        )

    def _adopt(self, taken: list[Delivery]) -> None:
        """Give back, in a task of the queue's, jobs taken by a get whose caller was
        cancelled before it got them (while its batch or its call was in flight)."""
        if taken:
            task = asyncio.get_running_loop().create_task(self._hand_back(taken))
            self._orphans.add(task)
            task.add_done_callback(self._orphans.discard)

    async def _hand_back(self, taken: Sequence[Delivery | Job]) -> None:
        """Give back, uncounted, jobs taken for callers cancelled before they got them."""

        async def release(d: Delivery | Job) -> None:
            # whatever keeps Redis from taking it back, its lock expires by itself
            with contextlib.suppress(*CAUGHT):
                await self._scripts.release(d.id, d.token, 0, 0, undo=True)

        if len(taken) == 1:
            await release(taken[0])
        elif taken:  # at once, in one round trip on the pipe
            await asyncio.gather(*(release(d) for d in taken))

    async def complete(
        self, job: Job[P], *, result: Any = NO_RESULT, result_ttl: float | None = None
    ) -> None:
        """Remove ``job`` for good. Raises ``LockLostError`` if another consumer holds it now.

        With ``result`` (any JSON value, None included) the result is kept for ``result_ttl``
        seconds (default: the queue's ``result_ttl``) for ``result()`` and ``status()``.
        A result never stops equal content from being put again.
        """
        done = self._completion(job, result, result_ttl)
        loop, job._loop = job._loop, None
        if (
            loop is not None
            and loop.chains(job)
            and isinstance(self._line.pipe, Pipe)  # else complete and get go one by one
            and self._chain.accepts(loop.lock_ms)
        ):
            # the job its consume() loop has out: the loop's next job comes with it
            since = time.monotonic()
            removed, taken = await self._chain.complete(done, loop.lock_ms)
            loop.receive_next(taken, since)
        else:
            removed = await self._complete_batcher.submit(done)
        if not removed:
            raise LockLostError(queue_name=self._name, job_id=job.id, action="complete")

    def _completion(self, job: Job[P], result: Any, result_ttl: float | None) -> Completion:
        """What completing ``job`` sends: ``result`` (unless ``NO_RESULT``) kept
        ``result_ttl`` seconds (None: the queue's default)."""
        if result is NO_RESULT:
            return Completion(job.id, job.token)
        keep_ms = self._result_ttl_ms if result_ttl is None else ttl_ms(result_ttl)
        return Completion(job.id, job.token, self._encode(result, "result"), keep_ms)

    async def extend(self, job: Job[P], *, lock_timeout: float) -> None:
        """Hold ``job`` for ``lock_timeout`` ms from now; ``LockLostError`` if it was taken."""
        lock_ms = _args.lock_ms(lock_timeout)
        if not await self._scripts.extend(job.id, job.token, lock_ms):
            raise LockLostError(queue_name=self._name, job_id=job.id, action="extend")

    async def release(self, job: Job[P], *, delay: float = 0.0, error: str | None = None) -> None:
        """Give ``job`` back uncompleted, due again after ``delay`` seconds.

        ``error`` (what it failed with, e.g. ``"ValueError: bad address"``) becomes its last
        error, cut to 2,000 characters. A job already delivered ``max_deliveries`` times goes
        to the dead letters instead. Raises ``LockLostError`` if another consumer took it.
        """
        delay_us, text = _args.delay_us(delay), bound_error(error)
        outcome = await self._scripts.release(
            job.id, job.token, delay_us, self._max_deliveries, error=text
        )
        if outcome == 0:
            raise LockLostError(queue_name=self._name, job_id=job.id, action="release")
        if outcome == 2:
            logger.warning(
                "job %s of queue %r dead-lettered after %d deliveries",
                job.id,
                self._name,
                job.deliveries,
                extra={"queue": self._name, "job_id": job.id, "delivery": job.deliveries},
            )

    async def dead_letter(self, job: Job[P], *, error: str | None = None) -> None:
        """Move ``job`` to the dead letters at once, whatever its deliveries (a failure that
        no retry can mend); ``error`` becomes its last error, as in ``release``.

        Raises ``LockLostError`` if another consumer took it.
        """
        if not await self._scripts.dead_letter(job.id, job.token, bound_error(error)):
            raise LockLostError(queue_name=self._name, job_id=job.id, action="dead-letter")

    async def consume(
        self,
        lock_timeout: float = 1000,
        *,
        min_interval: float = 0.01,
        max_interval: float = 1.0,
    ) -> AsyncIterator[Job[P]]:
        """Yield jobs as they become due, each locked for ``lock_timeout`` ms.

        When the queue is empty it polls with exponential backoff and full jitter between
        ``min_interval`` and ``max_interval`` seconds, back to the minimum after each job.
        A dropped connection, a Redis restart and the replies that say "not now" (BUSY,
        LOADING, NOSCRIPT, READONLY and the other failover replies) are waited out with
        the same backoff; any other error reply (OOM, WRONGTYPE) is raised. The loop stops
        promptly when its task is cancelled; a job it had taken but not yet
        handed out is released.
        """
        lock_ms = _args.lock_ms(lock_timeout)
        low = _args.positive_seconds(min_interval, "min_interval")
        high = _args.positive_seconds(max_interval, "max_interval")
        if high < low:
            raise ValueError(
                f"max_interval must be >= min_interval, got max_interval={max_interval!r} "
                f"< min_interval={min_interval!r}"
            )
        chain = self._shard_count == 1  # a sharded queue completes on the job's shard
        with self._poller(lock_ms, low, high) as poller:
            while True:
                (job,) = await poller.take(1)
                if chain:  # completing it may take the loop's next job (_chain)
                    job._loop, poller.out = poller, job
                yield job

    def _poller(
        self,
        lock_ms: int,
        min_interval: float,
        max_interval: float,
        *,
        take: Callable[[int], Awaitable[list[Job[P]]]] | None = None,
    ) -> Poller:
        """A Poller that takes jobs of this queue locked for ``lock_ms`` (by ``take``, if
        given: it locks them for ``lock_ms`` itself)."""

        async def get(count: int) -> list[Job[P]]:
            return await self.get_many(count, lock_timeout=lock_ms)

        return Poller(
            queue_name=self._name,
            take=get if take is None else take,
            hand_back=self._hand_back,
            waker=self._waker,
            min_interval=min_interval,
            max_interval=max_interval,
            inbox=self._inbox,
            lock_ms=lock_ms,
            jobs=self._jobs,
            orphan=self._adopt,
        )

    def _link(self, lock_ms: int, min_interval: float, max_interval: float) -> QueueLink:
        """The Worker's one door to this queue, for jobs locked ``lock_ms`` at a time."""
        return QueueLink(
            self,
            lock_ms=lock_ms,
            min_interval=min_interval,
            max_interval=max_interval,
            scripts=self._link_scripts(),
            max_deliveries=self._max_deliveries,
        )

    def _link_scripts(self) -> Scripts:
        """The scripts a Worker's link runs (a sharded queue's run each job on its shard)."""
        return self._scripts

    def __aiter__(self) -> AsyncIterator[Job[P]]:
        """``async for job in queue`` is ``consume()`` with its defaults."""
        return self.consume()

    def __repr__(self) -> str:
        shards = f", shards={self._shard_count}" if self._shard_count > 1 else ""
        return f"RedisJobQueue({self._name!r}{shards})"
