"""Inbox: new jobs handed straight to the idle consumers of one queue object.

An idle consumer (a ``consume()`` loop, or a Worker's link, that found nothing to take)
tells its queue object's inbox how many jobs it wants and how long to lock them. While any
consumer is idle, the inbox keeps the queue object registered in the queue's waiters zset
(``wait.lua``) and reads its own list with a blocking read (BLPOP, for ``max_interval`` of
the idle consumers): both go out at once, in one round trip, on a connection of the
inbox's own (not the pipe, which a blocking read would hold up). ``put.lua``, queuing jobs
due now while nothing else is due and finding a live registration, locks them under the
registration's token and pushes them to that list: a consumer has them after one hop,
instead of a wake-up message and then a get.

- A registration holds for one read and a margin, and the put that uses it removes it: a
  queue object that died is handed one batch at most, whose jobs come back when their
  locks expire, as after any crash.
- Each read is a poll too: ``wait.lua`` registers only when no job is due; when one is (a
  delayed job, an expired lock) it pushes an empty element, and the read wakes every idle
  consumer to look, as a wake-up message does. So an idle queue object sends Redis one
  round trip (the script and the read) per ``max_interval``.
- Jobs that reach the inbox with nobody idle to take them (consumers that got busy, left
  or were cancelled) are given back at once, uncounted; so are those still in the list
  when the inbox stops, which ends its read at once.
- A failed read (a dropped connection, a failover, Redis restarting) wakes the idle
  consumers, which then poll with backoff as they do without hand-off, and is tried again
  with backoff; a batch pushed meanwhile waits in the list for the next read. A server
  that refuses the script or the read (an ACL) ends the hand-off for this queue object.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import secrets
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Protocol

import hiredis
from redis._parsers.base import BaseParser
from redis.exceptions import (
    AskError,
    InvalidResponse,
    MovedError,
    NoScriptError,
    ResponseError,
    TryAgainError,
)
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._backoff import backoff
from ._batch import SCRIPT_JOBS
from ._deployment import Deployment
from ._keys import QueueKeys
from ._lua import _Script, _source
from ._scripts import Delivery
from ._tasks import stop
from ._transient import CAUGHT, CONNECTION_ERRORS, is_transient

__all__ = ["Inbox", "Waiter", "parse_batch"]

logger = logging.getLogger("aioredisjobqueue")

_MARGIN_MS = 500  # how much longer than its read a registration holds
_STOP_WAIT = 5.0  # seconds a stopping inbox waits for Redis
_SHORTEST_READ = 0.01  # seconds (a BLPOP timeout of 0 would wait for ever)
_MORE = object()  # the parser needs more bytes
_READ_SIZE = 65536
pack_command = hiredis.pack_command


class Waiter(Protocol):
    """An idle consumer, as the inbox sees it."""

    def receive(self, jobs: list[Delivery]) -> None:
        """Jobs handed off to it (none: look now, something may be due). Must not block."""


@dataclass(frozen=True, slots=True)
class _Want:
    count: int
    lock_ms: int
    seconds: float


@dataclass(frozen=True, slots=True)
class _Conn:
    """The connection the inbox reads on, and the pool it goes back to."""

    pool: Any
    conn: Any


@dataclass(slots=True)
class _Run:
    """One run of the inbox, from its first idle consumer to the last one leaving: a list
    key of its own, so that a run that stops never takes a batch meant for the next."""

    key: str
    id: str
    task: asyncio.Task[None] | None = None
    registration: str = ""  # the one last sent, live or not: the next replaces it
    reading: bool = False
    stopping: bool = False
    conn: _Conn | None = None  # the connection it reads on, from its first read to its end


def parse_batch(data: bytes) -> tuple[int, list[Delivery]]:
    """(lock ms, jobs) of a batch as ``put.lua`` pushes it."""
    head, _, rest = data.partition(b"\n")
    token_bytes, lock_ms = head.split()
    token = token_bytes.decode()
    jobs: list[Delivery] = []
    pos = 0
    while pos < len(rest):
        end = rest.index(b"\n", pos)
        deliveries, waited, id_bytes, size = map(int, rest[pos:end].split())
        start = end + 1
        job_id = rest[start : start + id_bytes].hex()
        payload = rest[start + id_bytes : start + id_bytes + size]
        jobs.append(Delivery(job_id, payload, deliveries, token, waited))
        pos = start + id_bytes + size
    return int(lock_ms), jobs


class Inbox:
    """Hand-off of new jobs to the idle consumers of one queue object.

    ``line`` is the queue object's deployment, which gives the client its blocking reads
    go on (each takes a connection of its own for as long as it waits; on a cluster, one
    on the primary of the queue's slot), ``orphan`` gives back jobs nobody will run (it
    must not block). It runs while at least one consumer uses it (``acquire``/``release``).
    """

    def __init__(
        self,
        line: Deployment,
        keys: QueueKeys,
        orphan: Callable[[list[Delivery]], None],
    ) -> None:
        self._line = line
        self._keys = keys
        self._orphan = orphan
        self._source, self._sha = _source("wait")
        self._loaded = False
        self._idle: dict[Waiter, _Want] = {}
        self._someone_idle = asyncio.Event()
        self._users = 0
        self._run: _Run | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self._failing = False
        self._refused = False
        self.handed = 0  # jobs received by hand-off, for tests and curious users

    @property
    def serving(self) -> bool:
        """True while idle consumers need not poll: the inbox reads, and tells them when a
        job is due."""
        return self._run is not None and not self._failing and not self._refused

    def acquire(self) -> None:
        """A consumer starts using the inbox; the first one starts it."""
        self._users += 1
        if self._run is None and not self._refused:
            run_id = secrets.token_hex(8)
            self._run = _Run(self._keys.inbox(run_id), run_id)
            self._run.task = asyncio.get_running_loop().create_task(self._serve(self._run))

    def release(self) -> None:
        """A consumer stops using the inbox; the last one out stops it, without waiting
        (``aclose()`` waits): its read ends, and jobs in its list are given back."""
        self._users -= 1
        if self._users == 0:
            self._end_run()

    def _end_run(self) -> None:
        if self._run is not None:
            run, self._run = self._run, None
            stopper = asyncio.get_running_loop().create_task(self._stop(run))
            self._stopping.add(stopper)
            stopper.add_done_callback(self._stopping.discard)

    def want(self, waiter: Waiter, count: int, lock_ms: int, seconds: float) -> None:
        """``waiter`` is idle: it wants up to ``count`` jobs locked ``lock_ms`` ms, and
        looks by itself every ``seconds`` at most (its ``max_interval``)."""
        self._idle[waiter] = _Want(count, lock_ms, seconds)
        self._someone_idle.set()

    def unwant(self, waiter: Waiter) -> None:
        """``waiter`` is no longer idle."""
        self._idle.pop(waiter, None)

    def give_back(self, jobs: list[Delivery]) -> None:
        """Give back at once, uncounted, jobs handed off that nobody will run."""
        if jobs:
            self._orphan(jobs)

    async def aclose(self) -> None:
        """Stop (if running) and wait until stopped, jobs in the inbox given back."""
        self._end_run()
        while self._stopping:
            await asyncio.gather(*self._stopping, return_exceptions=True)

    # -- the reading loop -------------------------------------------------------------------

    async def _serve(self, run: _Run) -> None:
        try:
            await self._read_loop(run)
        except Exception:
            # a bug, not Redis: say so, and let the consumers poll as without hand-off
            logger.exception("queue %r: hand-off to idle consumers failed", self._keys.name)
            self._refused = True
            self._wake_all()
        finally:
            await self._drop(run)
        if self._refused:
            # no more reads: a put must not hand jobs over, and those handed go back
            await self._unwait(run, leave_marker=False)

    async def _read_loop(self, run: _Run) -> None:
        failures = 0
        while True:
            while not self._idle and not run.stopping:
                self._someone_idle.clear()
                await self._someone_idle.wait()
            if run.stopping:
                return
            count, lock_ms, seconds = self._terms()
            member = f"{run.id}:{secrets.token_hex(8)}:{lock_ms}:{count}"
            previous, run.registration = run.registration, member
            run.reading = True
            try:
                registered, popped = await self._read(run, member, previous, seconds)
            except CAUGHT as exc:
                if not is_transient(exc):
                    logger.info(
                        "queue %r: no hand-off to idle consumers, they poll instead: %s: %s",
                        self._keys.name,
                        type(exc).__name__,
                        exc,
                    )
                    self._refused = True
                    self._wake_all()
                    return
                logger.debug("queue %r: inbox read failed: %r", self._keys.name, exc)
                self._failing = True
                self._wake_all()
                await asyncio.sleep(backoff(failures, base=0.05, cap=2.0, floor=0.05))
                failures += 1
                continue
            finally:
                run.reading = False
            failures, self._failing = 0, False
            if not registered:
                run.registration = ""
            if popped is not None:
                self._take(run, popped[1])

    def _terms(self) -> tuple[int, int, float]:
        """(count, lock ms, seconds) of the next registration: for the idle consumers with
        the lock timeout of the one idle longest, read for the shortest ``max_interval``."""
        first = next(iter(self._idle.values()))
        count = sum(w.count for w in self._idle.values() if w.lock_ms == first.lock_ms)
        seconds = min(w.seconds for w in self._idle.values())
        return min(count, SCRIPT_JOBS), first.lock_ms, max(seconds, _SHORTEST_READ)

    async def _read(
        self, run: _Run, member: str, previous: str, seconds: float
    ) -> tuple[bool, Any]:
        """wait.lua, then BLPOP of the inbox, in one round trip: (registered, popped)."""
        key = run.key
        ttl_ms = round(seconds * 1000) + _MARGIN_MS
        keys = (self._keys.waiting, self._keys.locked, self._keys.waiters, key, self._keys.ready)
        script = ("EVALSHA", self._sha) if self._loaded else ("EVAL", self._source)
        command: tuple[Any, ...] = (*script, len(keys), *keys, member, ttl_ms, previous)
        blpop: tuple[Any, ...] = ("BLPOP", key, f"{seconds:.3f}")
        packed = [pack_command(command), pack_command(blpop)]
        try:
            registered, popped = await self._exchange(run, packed, seconds + _STOP_WAIT)
        except CONNECTION_ERRORS:
            self._line.lost()
            raise
        if isinstance(registered, MovedError | AskError):
            # the slot moved (nothing ran): the next read goes to its new primary
            self._line.lost()
            await self._drop(run)
            raise TryAgainError(f"the queue's slot moved: {registered}", status_code="TRYAGAIN")
        if isinstance(registered, NoScriptError):
            self._loaded = False  # the server lost it: EVAL next time, nothing registered
            registered = 0
        else:
            self._loaded = True
        for reply in (registered, popped):
            if isinstance(reply, Exception):
                await self._drop(run)  # a failover's reply: the next read connects again
                raise reply
        return bool(registered), popped

    async def _exchange(self, run: _Run, packed: list[bytes], seconds: float) -> list[Any]:
        """Write ``packed`` (two commands) on the inbox's connection and read both replies
        (an error reply as its exception), in this task: nothing else uses the connection,
        so the reply that hands jobs over is parsed where it is used, without redis-py's
        pipeline and pool around it. A read that outlasts ``seconds`` (its BLPOP's timeout
        and a margin) means a dead link. Any failure, and a cancellation, drops the
        connection (a reply may be unread)."""
        conn = run.conn or await self._connect(run)
        try:
            await conn.conn.send_packed_command(packed, check_health=False)
            async with asyncio.timeout(seconds):
                stream = getattr(conn.conn, "_reader", None)  # redis-py's own connections
                if isinstance(stream, asyncio.StreamReader):
                    return await _replies(stream, len(packed))
                return [await _response(conn.conn) for _ in packed]  # fakeredis, say
        except TimeoutError as exc:
            await self._drop(run, broken=True)
            raise RedisTimeoutError("the inbox's blocking read outlasted its timeout") from exc
        except BaseException:
            await self._drop(run, broken=True)
            raise

    async def _connect(self, run: _Run) -> _Conn:
        """Take a connection of the reader's pool for the inbox's reads, until dropped."""
        redis = await self._line.reader()
        if redis is None:  # no connection to spare for it: the consumers poll
            raise ResponseError("no connection to spare for a blocking read")
        pool = redis.connection_pool
        conn = await pool.get_connection()
        run.conn = _Conn(pool, conn)
        return run.conn

    async def _drop(self, run: _Run, *, broken: bool = False) -> None:
        """Give ``run``'s connection back to its pool (closed first if ``broken``)."""
        held, run.conn = run.conn, None
        if held is not None:
            with contextlib.suppress(*CAUGHT):
                if broken:
                    await held.conn.disconnect(nowait=True)
            await held.pool.release(held.conn)

    def _take(self, run: _Run, batch: bytes) -> None:
        """Hand a batch read from the inbox to idle consumers; an empty one wakes them all."""
        if not batch:
            self._wake_all()
            return
        lock_ms, jobs = parse_batch(batch)
        if run.registration and jobs and run.registration.split(":")[1] == jobs[0].token:
            run.registration = ""  # the put that used it removed it
        self.handed += len(jobs)
        if run.stopping:
            self.give_back(jobs)
            return
        for waiter, want in list(self._idle.items()):
            if not jobs:
                break
            if want.lock_ms == lock_ms:
                share, jobs = jobs[: want.count], jobs[want.count :]
                del self._idle[waiter]
                waiter.receive(share)
        self.give_back(jobs)

    def _wake_all(self) -> None:
        idle, self._idle = self._idle, {}
        for waiter in idle:
            waiter.receive([])

    async def _stop(self, run: _Run) -> None:
        """End ``run``: its read returns at once (or soon), and every job in its list,
        or read after, is given back."""
        assert run.task is not None
        run.stopping = True
        self._someone_idle.set()
        if run.reading:
            # leaves an empty element, so that the read returns now
            await self._unwait(run, leave_marker=True)
            await asyncio.wait({run.task}, timeout=_STOP_WAIT)
        await stop([run.task])
        await self._unwait(run, leave_marker=False)

    async def _unwait(self, run: _Run, *, leave_marker: bool) -> None:
        """unwait.lua: remove the run's registration, give back the jobs in its list."""
        script = _Script(self._line, "unwait", (self._keys.waiters, run.key))
        batches: list[bytes] = []
        with contextlib.suppress(*CAUGHT, TimeoutError):
            async with asyncio.timeout(_STOP_WAIT):
                batches = await script(run.registration, 1 if leave_marker else 0)
        if not leave_marker:
            run.registration = ""
        for batch in batches:
            if batch:
                self.give_back(parse_batch(batch)[1])


async def _replies(stream: asyncio.StreamReader, count: int) -> list[Any]:
    """The next ``count`` replies read from ``stream`` (an error reply as its exception)."""
    parser = hiredis.Reader(
        protocolError=InvalidResponse, replyError=BaseParser.parse_error, notEnoughData=_MORE
    )
    replies: list[Any] = []
    while len(replies) < count:
        reply = parser.gets()
        if reply is _MORE:
            data = await stream.read(_READ_SIZE)
            if not data:
                raise RedisConnectionError("Redis closed the connection")
            parser.feed(data)
        else:
            replies.append(reply)
    return replies


async def _response(conn: Any) -> Any:
    """The next reply on a redis-py connection (an error reply as its exception)."""
    try:
        return await conn.read_response(disable_decoding=True)
    except ResponseError as exc:
        return exc
