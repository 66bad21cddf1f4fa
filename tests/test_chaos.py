"""Chaos: producers and consumers of every kind against a redis-server that keeps failing.

For ``--chaos-seconds`` (default 60) put loops, put_many loops, ``consume()`` loops,
get_many loops and Workers run on one busy queue object and on two more, through a
``FaultProxy`` (random drops, delays, split writes, black holes) and directly, while the
server gets ``CLIENT KILL TYPE normal``, ``CLIENT PAUSE``, ``SCRIPT FLUSH``, a script that
keeps it busy for a second (``-BUSY`` replies) and restarts (AOF, ``appendfsync always``, so
acknowledged puts survive). Then the faults stop, the queue drains, and every acknowledged
job is accounted for. Asserted:

- no exception escapes ``consume()`` or ``Worker.run()``;
- no acknowledged job is lost: each was completed, or its complete's reply was lost;
- no job is completed (OK) more often than it was queued: never twice under one put;
- every connection is closed after ``aclose()`` (CLIENT LIST);
- no key is left after the drain but the queue's marker.

Run it alone with ``-m chaos``; replay a failure with the ``--chaos-seed`` it printed.
"""

from __future__ import annotations

import asyncio
import random
import time
from collections import Counter, defaultdict
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

import pytest
import redis.asyncio as aioredis
from faultproxy import FaultProxy
from helpers import eventually
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError, ResponseError
from redis.exceptions import TimeoutError as RedisTimeoutError

from aioredisjobqueue import (
    DuplicateJobError,
    Job,
    JobEvent,
    LockLostError,
    RedisJobQueue,
    Worker,
    job_id,
)
from aioredisjobqueue.testing import RedisServer

pytestmark = [pytest.mark.chaos, pytest.mark.real_redis]

T = TypeVar("T")

NAME = "chaos"
LOCK_MS = 3000
# replies a caller of a single call may get while Redis is busy, loading or failing over
TRANSIENT_REPLIES = ("BUSY", "NOSCRIPT", "LOADING", "READONLY", "MASTERDOWN", "TRYAGAIN")
# a script that keeps the server busy for about a second, on its own clock
BUSY_SCRIPT = """
local t = redis.call('TIME')
local start = tonumber(t[1]) * 1000000 + tonumber(t[2])
repeat
  t = redis.call('TIME')
until tonumber(t[1]) * 1000000 + tonumber(t[2]) - start > 1000000
return 1
"""
# at most this many acknowledged jobs wait at once: producers pause above it
BACKLOG = 2000
# how long a user's retry loop keeps trying through an outage
PATIENCE = 60.0
# how long the queue may take to drain once the faults stop
DRAIN_WITHIN = 180.0


def transient(exc: BaseException) -> bool:
    """An error after which a careful user retries: the connection, or a transient reply."""
    if isinstance(exc, RedisConnectionError | RedisTimeoutError | OSError):
        return True
    return isinstance(exc, ResponseError) and str(exc).startswith(TRANSIENT_REPLIES)


@dataclass
class Ledger:
    """Every acknowledged put, delivery and complete, by job id."""

    acked: set[str] = field(default_factory=set)
    # how many times a job may have been queued: puts acknowledged, plus puts whose reply
    # was lost and then retried (the lost one may have queued it, and a consumer completed
    # it, before the retry queued it again)
    queued: Counter[str] = field(default_factory=Counter)
    completed: defaultdict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    delivered: Counter[str] = field(default_factory=Counter)
    # completes whose outcome is unknown: the reply was lost, and the retry found the lock
    # gone (the first call may have removed the job); for the Worker, every lock_lost (it
    # retries a complete whose reply was lost by itself). A LockLostError without a lost
    # reply before it is no excuse: another consumer must then complete the job.
    maybe: set[str] = field(default_factory=set)
    lock_lost: int = 0
    completed_during_faults: int = 0
    escaped: list[str] = field(default_factory=list)  # from consume() or Worker.run()
    errors: list[str] = field(default_factory=list)  # of the test's own loops

    def outstanding(self) -> int:
        return len(self.acked) - len(self.completed)

    def unaccounted(self) -> set[str]:
        return {i for i in self.acked if not self.completed.get(i) and i not in self.maybe}

    def doubled(self) -> dict[str, int]:
        return {i: len(t) for i, t in self.completed.items() if len(t) > self.queued[i]}


class Chaos:
    """The faults, the loops and the ledger of one run."""

    def __init__(self, server: RedisServer, proxy: FaultProxy, seed: int, seconds: float):
        self.server = server
        self.proxy = proxy
        self.rng = random.Random(seed)
        self.seconds = seconds
        self.ledger = Ledger()
        self.faults: Counter[str] = Counter()
        self.seen: Counter[str] = Counter()  # transient errors the callers retried, by kind
        self.in_fault = False
        self.stop = asyncio.Event()  # producers and get_many loops end
        self.admin = aioredis.Redis(port=server.port, retry=Retry(NoBackoff(), 0))

    # -- a careful user's calls ---------------------------------------------------------------

    async def retrying(
        self, call: Callable[[], Awaitable[T]], failed: list[BaseException] | None = None
    ) -> T:
        """``call()`` retried through transient failures, which go to ``failed``."""
        deadline = time.monotonic() + PATIENCE
        while True:
            try:
                return await call()
            except (RedisError, OSError) as exc:
                if not transient(exc) or time.monotonic() > deadline:
                    raise
                self.seen[_kind(exc)] += 1
                if failed is not None:
                    failed.append(exc)
                await asyncio.sleep(self.rng.uniform(0.005, 0.05))

    def acknowledged(self, job_id: str, queued: bool, failed: int) -> None:
        """A put of ``job_id`` is acknowledged: it ``queued`` it, after ``failed`` attempts
        whose replies were lost (each may have queued it too)."""
        if not queued and not failed:
            self.ledger.errors.append(f"job {job_id} was a duplicate at its first put")
        self.ledger.acked.add(job_id)
        self.ledger.queued[job_id] += queued + failed

    async def put(self, queue: RedisJobQueue, payload: Any) -> None:
        failed: list[BaseException] = []
        try:
            job_id = await self.retrying(lambda: queue.put(payload), failed)
        except DuplicateJobError as exc:
            # an attempt whose reply was lost queued it, and it still waits
            self.acknowledged(exc.job_id, False, len(failed))
        else:
            self.acknowledged(job_id, True, len(failed))

    async def put_many(self, queue: RedisJobQueue, payloads: list[Any]) -> None:
        failed: list[BaseException] = []
        ids = await self.retrying(lambda: queue.put_many(payloads), failed)
        for payload, got in zip(payloads, ids, strict=True):
            self.acknowledged(got or job_id(payload), got is not None, len(failed))

    def delivered(self, job: Job) -> None:
        """Count a delivery; a job whose payload is not its own was another call's reply."""
        self.ledger.delivered[job.id] += 1
        if job_id(job.payload) != job.id:
            self.ledger.errors.append(f"{job!r}: its payload is not that of its id")

    async def handle(self, job: Job) -> None:
        """What the consume() and get_many loops do with a job: a little work, complete."""
        self.delivered(job)
        await asyncio.sleep(self.rng.uniform(0, 0.003))
        failed: list[BaseException] = []
        try:
            await self.retrying(job.complete, failed)
        except LockLostError:
            # its lock expired during a fault and another consumer took it (who completes
            # it), or a complete whose reply was lost removed it
            self.ledger.lock_lost += 1
            if failed:
                self.ledger.maybe.add(job.id)
            return
        self.completed(job)

    def completed(self, job: Job) -> None:
        self.ledger.completed[job.id].append(job.token)
        if self.in_fault:
            self.ledger.completed_during_faults += 1

    # -- the loops ----------------------------------------------------------------------------

    async def producer(self, queue: RedisJobQueue, p: int, batch: bool) -> None:
        n = 0
        try:
            while not self.stop.is_set():
                while self.ledger.outstanding() > BACKLOG and not self.stop.is_set():
                    await asyncio.sleep(0.05)
                if batch:
                    size = self.rng.randint(1, 20)
                    await self.put_many(queue, [{"p": p, "n": n + k} for k in range(size)])
                    n += size
                else:
                    await self.put(queue, {"p": p, "n": n})
                    n += 1
                await asyncio.sleep(self.rng.uniform(0, 0.005))
        except (RedisError, OSError, DuplicateJobError) as exc:
            self.ledger.errors.append(f"producer {p}: {exc!r}")

    async def consumer(self, queue: RedisJobQueue, name: str) -> None:
        jobs = queue.consume(lock_timeout=LOCK_MS, min_interval=0.005, max_interval=0.2)
        try:
            while True:
                try:
                    job = await anext(jobs)
                except Exception as exc:
                    self.ledger.escaped.append(f"{name}: consume() raised {_describe(exc)}")
                    return
                try:
                    await self.handle(job)
                except (RedisError, OSError) as exc:
                    self.ledger.errors.append(f"{name}: complete: {exc!r}")
        finally:
            await jobs.aclose()

    async def getter(self, queue: RedisJobQueue, name: str) -> None:
        try:
            while not self.stop.is_set():
                jobs = await self.retrying(
                    lambda: queue.get_many(self.rng.randint(1, 10), lock_timeout=LOCK_MS)
                )
                for job in jobs:
                    await self.handle(job)
                if not jobs:
                    await asyncio.sleep(0.01)
        except (RedisError, OSError) as exc:
            self.ledger.errors.append(f"{name}: {exc!r}")

    def worker(self, queues: list[RedisJobQueue]) -> Worker:
        async def handler(job: Job) -> None:
            self.delivered(job)
            await asyncio.sleep(self.rng.uniform(0, 0.003))

        def on_event(event: JobEvent) -> None:
            if event.kind == "complete":
                self.completed(event.job)
            elif event.kind == "lock_lost":
                self.ledger.lock_lost += 1
                self.ledger.maybe.add(event.job.id)
            elif event.kind != "start":
                self.ledger.errors.append(f"worker: {event.kind} {event.job!r} {event.error!r}")

        return Worker(
            queues,
            handler,
            concurrency=4,
            lock_timeout=LOCK_MS,
            max_deliveries=None,
            retry_delay=0.01,
            retry_max_delay=0.1,
            grace=30,
            heartbeat=0.5,
            on_event=on_event,
        )

    async def run_worker(self, worker: Worker, name: str) -> None:
        try:
            await worker.run()
        except Exception as exc:
            self.ledger.escaped.append(f"{name}: Worker.run() raised {_describe(exc)}")

    # -- the faults ---------------------------------------------------------------------------

    async def inject(self) -> None:
        """Inject faults one after another, every kind in each round, until time is up and
        the round is over: every kind is injected once at least, however slow the machine."""
        end = time.monotonic() + self.seconds
        kinds: list[str] = []
        while time.monotonic() < end or kinds:
            if not kinds:
                kinds = [
                    *("drop_all", "client_kill", "script_flush") * 2,
                    *("blackhole", "client_pause", "busy_script", "restart"),
                ]
                self.rng.shuffle(kinds)
            kind = kinds.pop()
            await asyncio.sleep(self.rng.uniform(0.05, 0.4))
            self.in_fault = True
            try:
                await getattr(self, kind)()
            except (RedisError, OSError) as exc:  # the server was away or busy
                self.faults[f"{kind} (refused: {type(exc).__name__})"] += 1
            else:
                self.faults[kind] += 1
            finally:
                self.in_fault = False

    async def drop_all(self) -> None:
        self.proxy.drop_all()

    async def blackhole(self) -> None:
        await self.proxy.blackhole(self.rng.uniform(0.2, 1.5))

    async def client_kill(self) -> None:
        """A burst of kills, 30-120 ms apart."""
        for _ in range(self.rng.randint(1, 5)):
            await self.admin.execute_command("CLIENT", "KILL", "TYPE", "normal", "SKIPME", "yes")
            await asyncio.sleep(self.rng.uniform(0.03, 0.12))

    async def client_pause(self) -> None:
        ms = self.rng.randint(100, 800)
        mode = self.rng.choice(["ALL", "WRITE"])
        await self.admin.execute_command("CLIENT", "PAUSE", str(ms), mode)
        await asyncio.sleep(ms / 1000)

    async def script_flush(self) -> None:
        await self.admin.execute_command("SCRIPT", "FLUSH")

    async def busy_script(self) -> None:
        await self.admin.eval(BUSY_SCRIPT, 0)

    async def restart(self) -> None:
        await asyncio.to_thread(self.server.restart)
        await self.configure()

    async def configure(self) -> None:
        # -BUSY replies after 100 ms of a script, not the default 5 s (again after a
        # restart; the admin's connection may have died with the old server)
        await self.retrying(lambda: self.admin.config_set("busy-reply-threshold", "100"))


@pytest.fixture
def chaos_server(tmp_path: Path) -> Any:
    with RedisServer(tmp_path / "redis", appendonly=True) as server:
        yield server


async def test_chaos(
    chaos_server: RedisServer, request: pytest.FixtureRequest, capsys: pytest.CaptureFixture[str]
) -> None:
    seconds: float = request.config.getoption("--chaos-seconds")
    seed: int = request.config.getoption("--chaos-seed")
    if seed is None:
        seed = random.randrange(1 << 32)
    with capsys.disabled():
        print(f"\nchaos: seed {seed} (replay: --chaos-seed {seed}), {seconds:g} s of faults")
    proxy = FaultProxy(
        chaos_server.port, seed=seed, drop=0.002, delay=0.05, split=0.05, max_delay=0.02
    )
    await proxy.start()
    chaos = Chaos(chaos_server, proxy, seed, seconds)
    await chaos.configure()

    def queue(via: str, name: str) -> RedisJobQueue:
        url = proxy.url if via == "proxy" else chaos_server.url
        return RedisJobQueue(NAME, url=f"{url}?client_name=chaos-{name}")

    shared, other, direct = queue("proxy", "shared"), queue("proxy", "other"), queue("direct", "b")
    workers = {"worker shared": chaos.worker([shared]), "worker direct": chaos.worker([direct])}
    loops = [
        chaos.producer(shared, 0, batch=False),
        chaos.producer(shared, 1, batch=False),
        chaos.producer(shared, 2, batch=True),
        chaos.producer(other, 3, batch=True),
        chaos.producer(direct, 4, batch=False),
        chaos.getter(shared, "get_many shared"),
        chaos.getter(direct, "get_many direct"),
    ]
    consumers = [
        *(chaos.consumer(shared, f"consume shared {n}") for n in range(3)),
        chaos.consumer(other, "consume other"),
    ]
    loop_tasks = [asyncio.create_task(c) for c in loops]
    consumer_tasks = [asyncio.create_task(c) for c in consumers]
    worker_tasks = [asyncio.create_task(chaos.run_worker(w, n)) for n, w in workers.items()]
    ledger = chaos.ledger
    try:
        await chaos.inject()
        proxy.faults_on = False
        completed_in_chaos = len(ledger.completed)
        chaos.stop.set()
        await asyncio.wait_for(asyncio.gather(*loop_tasks[:5]), PATIENCE)

        drained = False
        deadline = time.monotonic() + DRAIN_WITHIN
        while (stats := await chaos.retrying(shared.stats)).total or ledger.unaccounted():
            if ledger.escaped:
                break  # reported below, with the rest
            if time.monotonic() > deadline:
                pytest.fail(
                    f"seed {seed}: not drained within {DRAIN_WITHIN} s: {stats}, "
                    f"{len(ledger.unaccounted())} unaccounted, escaped {ledger.escaped[:3]}, "
                    f"errors {ledger.errors[:3]}, tasks done "
                    f"{[t.get_name() for t in consumer_tasks + worker_tasks if t.done()]}"
                )
            await asyncio.sleep(0.1)
        else:
            drained = True
    finally:
        chaos.stop.set()
        for task in consumer_tasks:
            task.cancel()
        for worker in workers.values():
            if not worker.stopping:
                worker.stop()
        await asyncio.wait_for(
            asyncio.gather(*loop_tasks, *consumer_tasks, *worker_tasks, return_exceptions=True),
            PATIENCE,
        )
        for q in (shared, other, direct):
            await q.aclose()

    # every connection the queues made is closed (through the proxy: once it passed it on)
    async def all_closed() -> bool:
        clients = await chaos.admin.client_list()
        return not [c for c in clients if c["name"].startswith("chaos-")]

    await eventually(all_closed, "the queues' connections to close", interval=0.05)
    keys = sorted(k.decode() for k in await chaos.admin.keys("*"))
    await proxy.aclose()
    await chaos.admin.aclose()

    lost = sorted(ledger.unaccounted())
    doubled = ledger.doubled()
    injected = {**chaos.faults, **{f"proxy {k}": v for k, v in proxy.faults.items()}}
    figures = (
        f"chaos: seed {seed}, {seconds:g} s: jobs {len(ledger.acked)} put and acknowledged, "
        f"{sum(len(t) for t in ledger.completed.values())} completed "
        f"({ledger.completed_during_faults} while a fault was on), "
        f"{sum(ledger.delivered.values())} deliveries, {ledger.lock_lost} lock_lost, "
        f"{len(ledger.maybe - set(ledger.completed))} with a lost complete reply; "
        f"faults injected {sum(injected.values())}: {dict(sorted(injected.items()))}; "
        f"errors the callers retried: {dict(sorted(chaos.seen.items()))}; "
        f"lost {len(lost) if drained else 'unknown (not drained)'}, doubled {len(doubled)}, "
        f"escaped {len(ledger.escaped)}"
    )
    with capsys.disabled():
        print(figures)

    assert ledger.escaped == [], f"seed {seed}: {ledger.escaped[:5]}"
    assert ledger.errors == [], f"seed {seed}: {ledger.errors[:5]}"
    assert lost == [], f"seed {seed}: {len(lost)} acknowledged jobs lost: {lost[:5]}"
    assert doubled == {}, f"seed {seed}: completed more often than queued: {doubled}"
    assert keys == [f"ajq:{{{NAME}}}:queue"], f"seed {seed}: keys left: {keys[:10]}"
    # the test tested something: faults of every kind, and jobs moved while they were on
    for kind in ("drop_all", "client_kill", "script_flush", "blackhole", "client_pause"):
        assert chaos.faults[kind] > 0, f"no {kind} injected: the test did not test it"
    assert chaos.faults["busy_script"] + chaos.faults["restart"] > 0
    if chaos.faults["busy_script"]:
        assert chaos.seen["BUSY"] > 0, "a busy script brought no -BUSY reply"
    assert completed_in_chaos > 100, "jobs hardly moved during the chaos"
    assert ledger.completed_during_faults > 0, "no job was completed while a fault was on"


def _kind(exc: BaseException) -> str:
    """``BUSY`` for a ``-BUSY ...`` reply, else the error's class name."""
    if isinstance(exc, ResponseError):
        return str(exc).split(" ", 1)[0]
    return type(exc).__name__


def _describe(exc: BaseException) -> str:
    if isinstance(exc, BaseExceptionGroup):
        return f"{type(exc).__name__}({[_describe(e) for e in exc.exceptions]})"
    return f"{type(exc).__name__}: {exc}"
