"""The queue against an in-memory model, step by step, on the real redis-server (Hypothesis).

Hypothesis runs random sequences of put, put_many, get, get_many, extend, release (with a
delay), complete, lock expiry (short locks that really expire, waited for on the server's
clock), dead letters (``max_deliveries=2``), requeue_dead and purge; after every step the
queue's stats, its peek order and its dead letters must equal the model's.

Time is the server's: every score the scripts write is checked to lie between the server
times read just before and just after the call, and then kept in the model. Where an
outcome depends on the moment the server ran the call (a get or stats at a lock's expiry),
the model accepts the outcome for any moment of that interval, and no other.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import Coroutine
from dataclasses import dataclass
from typing import Any, TypeVar

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    invariant,
    rule,
    run_state_machine_as_test,
)

from aioredisjobqueue import DuplicateJobError, Job, LockLostError, QueueStats, RedisJobQueue
from aioredisjobqueue import job_id as id_of
from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

T = TypeVar("T")
# what the runs did, so that the test can check it tested something
SEEN: Counter[str] = Counter()

MAX_DELIVERIES = 2
SHORT_LOCK_MS = 50  # the model waits for these to expire; LONG ones never do in a test
LONG_LOCK_MS = 600_000
payloads = st.integers(0, 3)
lock_timeouts = st.sampled_from([SHORT_LOCK_MS, SHORT_LOCK_MS, LONG_LOCK_MS])
handles = st.integers(0, 5)  # the last Job handed out, the one before, ...
delays = st.sampled_from([0.0, 0.0, 0.0, 0.05, 600.0])


@dataclass
class Entry:
    """A job as the model holds it: where it is, since or until when (µs, server clock)."""

    payload: int
    where: str  # "waiting", "locked" or "dead"
    score: int  # waiting: due at (in the ready list: since); locked: lock expiry; dead: died at
    deliveries: int = 0
    token: str = ""  # the token holding its lock; "" when not locked
    soon: bool = False  # its score is a short lock's expiry or a short delay's end
    # waiting in the ready list: its place there (the order of entries of equal time)
    ready_place: int | None = None


class QueueModel(RuleBasedStateMachine):
    def __init__(self, url: str) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.queue = RedisJobQueue(
            f"model-{uuid.uuid4().hex[:12]}", url=url, max_deliveries=MAX_DELIVERIES
        )
        self.jobs: dict[str, Entry] = {}
        # every Job handed out, stale ones too: the rules pick one by index. (No Bundle, and
        # no precondition on outcomes: what a get takes depends on the server's clock, and
        # Hypothesis must draw the same data when it replays a sequence.)
        self.held: list[Job] = []

    def run(self, coro: Coroutine[Any, Any, T]) -> T:
        return self.loop.run_until_complete(coro)

    def teardown(self) -> None:
        try:
            self.run(self.queue.purge())
            self.run(self.queue.redis.delete(self.queue.keys.marker))
            self.run(self.queue.aclose())
        finally:
            self.loop.close()

    # -- the server's clock and scores ----------------------------------------------------

    async def _now(self) -> int:
        seconds, micros = await self.queue.redis.time()
        return int(seconds) * 1_000_000 + int(micros)

    def now(self) -> int:
        return self.run(self._now())

    def short_waits(self) -> list[int]:
        """Scores of short locks and short delays not waited for yet."""
        return [e.score for e in self.jobs.values() if e.soon and e.where != "dead"]

    def score(self, key: str, job_id: str) -> int | None:
        value = self.run(self.queue.redis.zscore(key, bytes.fromhex(job_id)))
        return None if value is None else int(value)

    def ready_time(self, job_id: str) -> int | None:
        """The time the ready list holds for ``job_id`` (its entries: id, time as 8 bytes
        big-endian, …), or None."""
        flat = self.run(self.queue.redis.lrange(self.queue.keys.ready, 0, -1))
        times = dict(zip(flat[::2], flat[1::2], strict=True))
        time = times.get(bytes.fromhex(job_id))
        return None if time is None else int.from_bytes(time, "big")

    def read_score(self, job_id: str, where: str, low: int, high: int) -> int:
        """The score the call wrote for ``job_id`` in ``where``, checked to lie in [low, high];
        a job due at once waits in the ready list, a delayed one in the waiting zset."""
        key = {"waiting": self.queue.keys.waiting, "locked": self.queue.keys.locked}
        score = self.score(key.get(where, self.queue.keys.dead), job_id)
        entry = self.jobs.get(job_id)
        if entry is not None:
            entry.ready_place = None
        if score is None and where == "waiting":
            score = self.ready_time(job_id)
            if entry is not None and score is not None:
                entry.ready_place = self.next_place()
        assert score is not None, f"job {job_id} is not {where}"
        assert low <= score <= high, (job_id, where, low, score, high)
        return score

    def next_place(self) -> int:
        places = [e.ready_place for e in self.jobs.values() if e.ready_place is not None]
        return max(places, default=0) + 1

    def order(self, job_id: str) -> tuple[int, int, int, bytes]:
        """Where a job comes among the due ones at the same time: the ready list first, in
        its order, then the waiting zset, then the locked one, each by id."""
        e = self.jobs[job_id]
        if e.where == "waiting" and e.ready_place is not None:
            return (e.score, 0, e.ready_place, b"")
        return (e.score, 1 if e.where == "waiting" else 2, 0, bytes.fromhex(job_id))

    def moments(self, before: int, after: int) -> list[int]:
        """The server times in [before, after] at which outcomes can differ."""
        scores = {e.score for e in self.jobs.values() if before < e.score <= after}
        return [before, *sorted(scores)]

    # -- what the model expects ------------------------------------------------------------

    def due(self, now: int) -> list[str]:
        """Due jobs in the order get takes them: by score, then ``order``."""
        due = [
            (self.order(i), i)
            for i, e in self.jobs.items()
            if e.where in ("waiting", "locked") and e.score <= now
        ]
        return [i for _, i in sorted(due)]

    def plan_get(self, now: int, count: int) -> tuple[list[str], list[str]]:
        """(taken, dead-lettered) by a get of ``count`` at server time ``now``."""
        taken: list[str] = []
        dead: list[str] = []
        for job_id in self.due(now):
            if len(taken) == count:
                break
            if self.jobs[job_id].deliveries >= MAX_DELIVERIES:
                dead.append(job_id)
            else:
                taken.append(job_id)
        return taken, dead

    def stats_at(self, now: int) -> QueueStats:
        ready = locked = delayed = dead = 0
        for e in self.jobs.values():
            if e.where == "dead":
                dead += 1
            elif e.score <= now:
                ready += 1
            elif e.where == "locked":
                locked += 1
            else:
                delayed += 1
        return QueueStats(ready=ready, locked=locked, delayed=delayed, dead=dead)

    # -- rules --------------------------------------------------------------------------------

    @rule(payload=payloads, delay=delays)
    def put(self, payload: int, delay: float) -> None:
        job_id = id_of(payload)
        before = self.now()
        try:
            got = self.run(self.queue.put(payload, delay=delay))
        except DuplicateJobError as exc:
            assert job_id in self.jobs and exc.job_id == job_id
            return
        after = self.now()
        assert got == job_id and job_id not in self.jobs
        delay_us = round(delay * 1_000_000)
        self.jobs[job_id] = Entry(payload, "waiting", 0, soon=0 < delay < 1)
        self.jobs[job_id].score = self.read_score(
            job_id, "waiting", before + delay_us, after + delay_us
        )

    @rule(batch=st.lists(payloads, max_size=6), delay=delays)
    def put_many(self, batch: list[int], delay: float) -> None:
        before = self.now()
        got = self.run(self.queue.put_many(batch, delay=delay))
        after = self.now()
        expected: list[str | None] = []
        for payload in batch:
            job_id = id_of(payload)
            new = job_id not in self.jobs and job_id not in expected
            expected.append(job_id if new else None)
        assert got == expected
        delay_us = round(delay * 1_000_000)
        for payload, job_id in zip(batch, got, strict=True):
            if job_id is not None:
                low = before + delay_us - len(batch)
                self.jobs[job_id] = Entry(payload, "waiting", 0, soon=0 < delay < 1)
                score = self.read_score(job_id, "waiting", low, after + delay_us)
                self.jobs[job_id].score = score

    @rule(count=st.integers(1, 4), lock_ms=lock_timeouts, wait=st.sampled_from([0, 0, 1]))
    def get_many(self, count: int, lock_ms: int, wait: int) -> None:
        if wait:
            self.let_short_locks_and_delays_expire()
        before = self.now()
        if count == 1:
            one = self.run(self.queue.get(lock_timeout=lock_ms))
            jobs = [] if one is None else [one]
        else:
            jobs = self.run(self.queue.get_many(count, lock_timeout=lock_ms))
        after = self.now()
        plans = [self.plan_get(now, count) for now in self.moments(before, after)]
        taken = [j.id for j in jobs]
        matching = [p for p in plans if p[0] == taken]
        assert matching, f"get_many({count}) took {taken}; the model: one of {plans}"
        # of the plans that took these jobs, the one whose dead-lettered jobs are dead now
        dead_now = [p for p in matching if all(self.score(self.queue.keys.dead, i) for i in p[1])]
        assert dead_now, f"none of the dead-letterings {[p[1] for p in matching]} happened"
        _, dead = max(dead_now, key=lambda p: len(p[1]))
        for job_id in dead:
            SEEN["dead-lettered"] += 1
            entry = self.jobs[job_id]
            entry.where, entry.token = "dead", ""
            entry.score = self.read_score(job_id, "dead", before, after)
        lock_us = lock_ms * 1000
        SEEN["taken"] += len(jobs)
        for job in jobs:
            entry = self.jobs[job.id]
            entry.deliveries += 1
            assert (job.payload, job.deliveries) == (entry.payload, entry.deliveries)
            entry.where, entry.token, entry.soon = "locked", job.token, lock_ms < 1000
            entry.score = self.read_score(job.id, "locked", before + lock_us, after + lock_us)
        self.held.extend(jobs)

    def pick(self, index: int) -> Job | None:
        return self.held[-1 - index % len(self.held)] if self.held else None

    @rule(times=st.integers(1, 3))
    def take_and_let_expire(self, times: int) -> None:
        """Take the next job under a short lock and let the lock expire, ``times`` times: how
        jobs of consumers that died come back, and end as dead letters."""
        for _ in range(times):
            self.get_many(1, SHORT_LOCK_MS, 1)
        self.let_short_locks_and_delays_expire()

    def holds(self, job: Job) -> Entry | None:
        entry = self.jobs.get(job.id)
        return entry if entry is not None and entry.token == job.token else None

    @rule(index=handles)
    def complete(self, index: int) -> None:
        job = self.pick(index)
        if job is None:
            return
        entry = self.holds(job)
        if entry is None:
            with pytest.raises(LockLostError):
                self.run(job.complete())
            return
        self.run(job.complete())
        SEEN["completed"] += 1
        del self.jobs[job.id]

    @rule(index=handles, lock_ms=lock_timeouts)
    def extend(self, index: int, lock_ms: int) -> None:
        job = self.pick(index)
        if job is None:
            return
        entry = self.holds(job)
        before = self.now()
        if entry is None:
            with pytest.raises(LockLostError):
                self.run(job.extend(lock_ms))
            return
        self.run(job.extend(lock_ms))
        after = self.now()
        lock_us = lock_ms * 1000
        entry.score = self.read_score(job.id, "locked", before + lock_us, after + lock_us)
        entry.soon = lock_ms < 1000

    @rule(index=handles, delay=delays)
    def release(self, index: int, delay: float) -> None:
        job = self.pick(index)
        if job is None:
            return
        entry = self.holds(job)
        before = self.now()
        if entry is None:
            with pytest.raises(LockLostError):
                self.run(job.release(delay))
            return
        self.run(job.release(delay))
        after = self.now()
        entry.token = ""
        if entry.deliveries >= MAX_DELIVERIES:
            SEEN["dead-lettered"] += 1
            entry.where = "dead"
            entry.score = self.read_score(job.id, "dead", before, after)
        else:
            delay_us = round(delay * 1_000_000)
            entry.where, entry.soon = "waiting", 0 < delay < 1
            entry.score = self.read_score(job.id, "waiting", before + delay_us, after + delay_us)

    @rule()
    def let_short_locks_and_delays_expire(self) -> None:
        """Wait on the server's clock until every short lock and short delay is over."""
        soon = self.short_waits()
        if not soon:
            return
        SEEN["expiries waited for"] += 1
        target = max(soon)
        while self.now() <= target:
            self.run(asyncio.sleep(0.01))
        for entry in self.jobs.values():
            entry.soon = False

    @rule(which=st.none() | st.lists(payloads, max_size=3))
    def requeue_dead(self, which: list[int] | None) -> None:
        dead = sorted(
            (e.score, bytes.fromhex(i), i) for i, e in self.jobs.items() if e.where == "dead"
        )
        if which is None:
            ids = [i for *_, i in dead]
        else:
            ids = list(dict.fromkeys(id_of(p) for p in which))
        before = self.now()
        n = self.run(self.queue.requeue_dead(None if which is None else ids))
        after = self.now()
        back = [i for i in ids if i in self.jobs and self.jobs[i].where == "dead"]
        assert n == len(back)
        SEEN["requeued"] += n
        for job_id in back:
            entry = self.jobs[job_id]
            entry.where, entry.deliveries, entry.soon = "waiting", 0, False
            entry.score = self.read_score(job_id, "waiting", before - len(ids), after)

    @rule()
    def purge(self) -> None:
        assert self.run(self.queue.purge()) == len(self.jobs)
        self.jobs.clear()

    # -- invariants -------------------------------------------------------------------------

    @invariant()
    def stats_match(self) -> None:
        before = self.now()
        stats = self.run(self.queue.stats())
        after = self.now()
        expected = [self.stats_at(now) for now in self.moments(before, after)]
        assert stats in expected, (stats, expected)

    @invariant()
    def peek_shows_the_waiting_jobs_in_order(self) -> None:
        waiting = sorted((self.order(i), i) for i, e in self.jobs.items() if e.where == "waiting")
        peeked = self.run(self.queue.peek(100))
        assert [(w.id, w.payload, round(w.due_at * 1e6)) for w in peeked] == [
            (i, self.jobs[i].payload, self.jobs[i].score) for _, i in waiting
        ]

    @invariant()
    def dead_letters_match(self) -> None:
        dead = sorted(
            (e.score, bytes.fromhex(i), i) for i, e in self.jobs.items() if e.where == "dead"
        )
        letters = self.run(self.queue.dead_letters())
        assert [(d.id, d.payload, d.deliveries, round(d.died_at * 1e6)) for d in letters] == [
            (i, self.jobs[i].payload, self.jobs[i].deliveries, score) for score, _, i in dead
        ]


@pytest.mark.timeout(600)  # about 40 s here; a loaded machine takes longer
def test_the_queue_behaves_as_its_model(redis_server: RedisServer) -> None:
    SEEN.clear()
    run_state_machine_as_test(
        lambda: QueueModel(redis_server.url),
        settings=settings(
            max_examples=100,
            stateful_step_count=50,
            deadline=None,
            database=None,
            # no shrinking: on the server's clock a replay can go another way, so Hypothesis
            # reports the first failing sequence of steps as it ran
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
    print(f"model test: {dict(SEEN)}")
    for what in ("taken", "completed", "dead-lettered", "expiries waited for"):
        assert SEEN[what] > 0, f"no job {what}: the model test did not test anything"
