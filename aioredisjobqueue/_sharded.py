"""A sharded queue: one logical queue over N shards, each a queue core of its own keys.

``RedisJobQueue(name, shards=N)`` with N > 1 makes a ``ShardedJobQueue``. Each shard is a
core: the queue's own machinery (scripts, batchers, taker, wake-up and done
subscriptions) wired to the shard's keys (see ``_keys.shard_tags``), on the queue's one
client and pipe. This layer only routes:

- a job lives in shard ``int(id, 16) % N``: put, complete, extend, release, dead-letter,
  status, cancel and result go to that shard, so equal content meets itself there and
  uniqueness stays exact;
- ``put_many`` splits its jobs per shard, one series of script calls per shard, all at once;
- gets take from the shards fairly: each call starts at the next shard in turn and offers
  each shard its share, asking shards that had their share filled for what others lacked;
- a put on any shard wakes idle consumers (each shard's wake-up channel is relayed);
- the calls that inspect the queue span the shards (counts summed, lists merged).

Workers' heartbeats, the marker and the stored number of shards are under the queue's own
name (``{NAME}``), so the queue lists once, by its name.
"""

from __future__ import annotations

import asyncio
import heapq
import random
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import TYPE_CHECKING, Any, TypeVar, cast

from . import _args
from ._client import DEFAULT_MAX_CONNECTIONS
from ._job import Job
from ._keys import QueueKeys, shard_tags
from ._payloads import P
from ._queue import RedisJobQueue
from ._records import DeadLetter, QueueStats, WaitingJob
from ._results import NO_RESULT
from ._shardcheck import stored_shards
from ._status import JobStatus
from ._tasks import stop
from ._wake import wait_signal

if TYPE_CHECKING:
    from ._scripts import Completion, Delivery, Scripts
    from ._wake import Waker

__all__ = ["ShardedJobQueue", "open_queue", "stored_shards"]

T = TypeVar("T")


class ShardedJobQueue(RedisJobQueue[P]):
    """A ``RedisJobQueue`` of more than one shard; made by ``RedisJobQueue(name, shards=N)``."""

    def __init__(
        self,
        queue_name: str,
        *,
        shards: int,
        max_connections: int = DEFAULT_MAX_CONNECTIONS,
        **options: Any,
    ) -> None:
        super().__init__(queue_name, shards=shards, max_connections=max_connections, **options)
        self._cores = [
            self._core(QueueKeys(self._name, tag), max_connections)
            for tag in shard_tags(self._name, self._shard_count)
        ]
        self._waker = cast("Waker", _AnyWaker([core._waker for core in self._cores]))
        self._next = random.randrange(self._shard_count)  # the shard the next get starts at

    def _core(self, keys: QueueKeys, max_connections: int) -> RedisJobQueue[P]:
        """A core of this queue's settings and connections, on the keys of one shard."""
        core: RedisJobQueue[P] = object.__new__(RedisJobQueue)
        core.__dict__.update(self.__dict__)
        core._wire(keys, max_connections, of=self._line)  # the queue's closes the client
        return core

    def _shard_of(self, job_id: str) -> RedisJobQueue[P]:
        """The shard of the job ``job_id`` (hex)."""
        return self._cores[int(job_id, 16) % len(self._cores)]

    @property
    def shard_keys(self) -> tuple[QueueKeys, ...]:
        """The key names of each shard, in shard order."""
        return tuple(core.keys for core in self._cores)

    async def aclose(self) -> None:
        """Close every shard's calls and subscriptions, then the queue's connections."""
        for core in self._cores:
            await core.aclose()
        await super().aclose()

    # -- producing -------------------------------------------------------------------

    async def _put_one(self, job_id: str, text: bytes, delay_us: int) -> None:
        await self._shard_of(job_id)._put_one(job_id, text, delay_us)

    async def _put_batch(self, jobs: list[tuple[str, bytes, int]]) -> dict[str, bool]:
        groups: dict[int, list[tuple[str, bytes, int]]] = {}
        for job in jobs:
            groups.setdefault(int(job[0], 16) % len(self._cores), []).append(job)
        added: dict[str, bool] = {}
        for part in await _all(self._cores[i]._put_batch(group) for i, group in groups.items()):
            added.update(part)
        return added

    # -- consuming -------------------------------------------------------------------

    async def _take(self, count: int, lock_ms: int) -> list[Delivery]:
        """Up to ``count`` due jobs from the shards, fairly: the shards are asked at once,
        each for its share, starting at the next shard in turn; what some lacked is asked
        of those that filled their share, until ``count`` are taken or none has more."""
        n = len(self._cores)
        start, self._next = self._next, (self._next + 1) % n
        open_ = [(start + k) % n for k in range(n)]  # the shards that may have more
        taken: list[Delivery] = []
        while open_ and len(taken) < count:
            left, m = count - len(taken), len(open_)
            shares = [left // m + (k < left % m) for k in range(m)]
            asked = [(i, share) for i, share in zip(open_, shares, strict=True) if share]
            parts = await self._take_from(asked, lock_ms)
            failure = next((p for p in parts if isinstance(p, BaseException)), None)
            full = []
            for (i, share), part in zip(asked, parts, strict=True):
                if not isinstance(part, BaseException):
                    taken.extend(part)
                    if len(part) == share:
                        full.append(i)
            if failure is not None:
                if not taken:
                    raise failure
                break  # as a get of many: what was taken is returned, the error comes again
            open_ = open_[len(asked) :] + full  # those not asked yet come first
        return taken

    async def _take_from(
        self, asked: list[tuple[int, int]], lock_ms: int
    ) -> list[list[Delivery] | BaseException]:
        """Ask each shard ``i`` of ``asked`` for ``share`` jobs, all at once: each one's
        jobs, or its error. If the caller is cancelled, the jobs taken are given back."""
        tasks = [asyncio.ensure_future(self._cores[i]._take(share, lock_ms)) for i, share in asked]
        try:
            return await asyncio.gather(*tasks, return_exceptions=True)
        except asyncio.CancelledError:
            await stop(cast("list[asyncio.Task[None]]", tasks))
            for task in tasks:
                if not task.cancelled() and task.exception() is None:
                    self._adopt(task.result())
            raise

    async def _hand_back(self, taken: Sequence[Delivery | Job]) -> None:
        groups: dict[int, list[Delivery | Job]] = {}
        for d in taken:
            groups.setdefault(int(d.id, 16) % len(self._cores), []).append(d)
        await _all(self._cores[i]._hand_back(group) for i, group in groups.items())

    async def complete(
        self, job: Job[P], *, result: Any = NO_RESULT, result_ttl: float | None = None
    ) -> None:
        await self._shard_of(job.id).complete(job, result=result, result_ttl=result_ttl)

    async def extend(self, job: Job[P], *, lock_timeout: float) -> None:
        await self._shard_of(job.id).extend(job, lock_timeout=lock_timeout)

    async def release(self, job: Job[P], *, delay: float = 0.0, error: str | None = None) -> None:
        await self._shard_of(job.id).release(job, delay=delay, error=error)

    async def dead_letter(self, job: Job[P], *, error: str | None = None) -> None:
        await self._shard_of(job.id).dead_letter(job, error=error)

    def _link_scripts(self) -> Scripts:
        return cast("Scripts", _RoutedScripts(self._shard_of))

    async def _complete_take(
        self, held: list[Completion], count: int, lock_ms: int
    ) -> tuple[list[bool], list[Delivery], Exception | None]:
        """Each completion on its job's shard, the take across the shards (fairly)."""
        groups: dict[int, list[Completion]] = {}
        for completion in held:
            groups.setdefault(int(completion.id, 16) % len(self._cores), []).append(completion)
        parts = await _all(self._cores[i]._scripts.complete(group) for i, group in groups.items())
        outcome = {c.id: d for group, part in zip(groups.values(), parts, strict=True)
                   for c, d in zip(group, part, strict=True)}  # fmt: skip
        done = [outcome[c.id] for c in held]
        try:
            taken = await self._take(count, lock_ms) if count else []
        except Exception as exc:
            if not held:
                raise
            return done, [], exc
        return done, taken, None

    # -- jobs by id ------------------------------------------------------------------

    async def status(self, job_id: str) -> JobStatus | None:
        return await self._shard_of(_args.job_id(job_id, "job_id")).status(job_id)

    async def cancel(self, job_id: str) -> bool:
        return await self._shard_of(_args.job_id(job_id, "job_id")).cancel(job_id)

    async def result(self, job_id: str, *, timeout: float | None = None) -> Any:  # noqa: ASYNC109
        core = self._shard_of(_args.job_id(job_id, "job_id"))
        return await core.result(job_id, timeout=timeout)

    # -- the queue as a whole --------------------------------------------------------

    async def stats(self) -> QueueStats:
        await self._check_shards()
        counts = await _all(core.stats() for core in self._cores)
        return QueueStats(
            ready=sum(c.ready for c in counts),
            locked=sum(c.locked for c in counts),
            delayed=sum(c.delayed for c in counts),
            dead=sum(c.dead for c in counts),
        )

    async def peek(self, count: int = 10) -> list[WaitingJob]:
        _args.positive_int(count, "count")
        await self._check_shards()
        parts = await _all(core.peek(count) for core in self._cores)
        return list(heapq.merge(*parts, key=lambda w: w.due_at))[:count]

    async def dead_letters(self, limit: int | None = None) -> list[DeadLetter]:
        if limit is not None:
            _args.positive_int(limit, "limit")
        await self._check_shards()
        parts = await _all(core.dead_letters(limit) for core in self._cores)
        merged = list(heapq.merge(*parts, key=lambda d: d.died_at))
        return merged if limit is None else merged[:limit]

    async def requeue_dead(self, job_ids: Iterable[str] | None = None) -> int:
        return await self._per_shard(job_ids, lambda core, ids: core.requeue_dead(ids))

    async def delete_dead(self, job_ids: Iterable[str] | None = None) -> int:
        return await self._per_shard(job_ids, lambda core, ids: core.delete_dead(ids))

    async def purge(self) -> int:
        await self._check_shards()
        return sum(await _all(core.purge() for core in self._cores))

    async def _per_shard(
        self,
        job_ids: Iterable[str] | None,
        call: Callable[[RedisJobQueue[P], list[str] | None], Awaitable[int]],
    ) -> int:
        """``call`` on each shard with its ids of ``job_ids`` (None: on every shard, all)."""
        ids = (
            None
            if job_ids is None
            else [_args.job_id(i, f"job_ids[{n}]") for n, i in enumerate(job_ids)]
        )
        await self._check_shards()
        if ids is None:
            return sum(await _all(call(core, None) for core in self._cores))
        groups: dict[int, list[str]] = {}
        for job_id in ids:
            groups.setdefault(int(job_id, 16) % len(self._cores), []).append(job_id)
        return sum(await _all(call(self._cores[i], group) for i, group in groups.items()))


async def _all(calls: Iterable[Awaitable[T]]) -> list[T]:
    """Await ``calls`` at once; when any fails, wait for the others, then raise the first
    error (so that none runs on after the call returns)."""
    results = await asyncio.gather(*calls, return_exceptions=True)
    for result in results:
        if isinstance(result, BaseException):
            raise result
    return cast("list[T]", results)


class _RoutedScripts:
    """The scripts a ``QueueLink`` settles jobs and queues ticks with, each run on the
    shard of its job."""

    def __init__(self, core_of: Callable[[str], RedisJobQueue[Any]]) -> None:
        self._shard_of = core_of

    async def release(self, job_id: str, *args: Any, **kwargs: Any) -> Any:
        return await self._shard_of(job_id)._scripts.release(job_id, *args, **kwargs)

    async def dead_letter(self, job_id: str, *args: Any) -> Any:
        return await self._shard_of(job_id)._scripts.dead_letter(job_id, *args)

    async def tick(self, schedule: str, tick_us: int, job_id: str, text: bytes) -> Any:
        return await self._shard_of(job_id)._scripts.tick(schedule, tick_us, job_id, text)


class _AnyWaker:
    """The wake-ups of every shard as one: its signal is set when any shard's is.

    While consumers are registered, every shard's subscription runs, with one relay task
    per shard that passes its wake-ups on; the relays belong to this object and stop with
    the last consumer, or at ``aclose()``.
    """

    def __init__(self, wakers: list[Waker]) -> None:
        self._wakers = wakers
        self._event = asyncio.Event()
        self._users = 0
        self._relays: list[asyncio.Task[None]] = []
        self._stopping: set[asyncio.Task[None]] = set()

    def signal(self, replacing: asyncio.Event | None = None) -> asyncio.Event:
        """The event the next wake-up of any shard sets: take it before looking. One for
        every consumer (``replacing``, as ``Waker.signal`` takes it, changes nothing: a
        sharded queue hands no jobs off, so no consumer's event is set for it alone)."""
        return self._event

    async def wait(self, signal: asyncio.Event, seconds: float) -> None:
        """Wait until ``signal`` is set or ``seconds`` pass."""
        await wait_signal(signal, seconds)

    def acquire(self) -> None:
        """Register a consumer; the first one starts every shard's subscription."""
        self._users += 1
        for waker in self._wakers:
            waker.acquire()
        if not self._relays:
            loop = asyncio.get_running_loop()
            self._relays = [loop.create_task(self._relay(waker)) for waker in self._wakers]

    def release(self) -> None:
        """Unregister a consumer; the last one out stops the subscriptions."""
        self._users -= 1
        for waker in self._wakers:
            waker.release()
        if self._users == 0:
            for task in self._relays:
                task.cancel()
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
            self._relays = []

    async def aclose(self) -> None:
        """Stop the relays and the shards' subscriptions, and wait until they stopped."""
        relays, self._relays = self._relays, []
        await stop([*relays, *self._stopping])
        for waker in self._wakers:
            await waker.aclose()

    async def _relay(self, waker: Waker) -> None:
        while True:
            await waker.signal().wait()
            event, self._event = self._event, asyncio.Event()
            event.set()


async def open_queue(name: str, client: Any, shards: int | None = None) -> RedisJobQueue[Any]:
    """The queue ``name`` on ``client`` (which it never closes), with ``shards`` shards, or
    by default with as many as Redis holds for it (1 for a new queue): for the command line
    and the dashboard, which open queues by name."""
    found = shards if shards is not None else await stored_shards(client, name)
    return RedisJobQueue(name, redis=client, shards=found)
