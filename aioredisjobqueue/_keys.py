"""The Redis keys of one queue, all under its hash tag so they share a cluster slot.

Jobs are stored under their id as 12 raw bytes (the 24 hex digits users see, packed). A
job due at once (put or released with no delay, a dead letter requeued) waits in the ready
list, a job that waits for a time in the waiting zset: a list entry costs about 24 bytes, a
zset entry about 104, so a queued job keeps about 95 bytes of Redis memory beyond its
payload (README, "What a queued job costs in Redis").

ajq:{NAME}:ready     list  id, time (µs, server clock) it became due, id, time, …: jobs due
                     at once, oldest first (taken from the left, added on the right)
ajq:{NAME}:waiting   zset  id -> time (µs) it becomes available: delayed jobs (and the
                     ready ones of queues written before the ready list)
ajq:{NAME}:locked    zset  id -> time (µs) its lock expires; due again after that
ajq:{NAME}:payloads  hash  id -> canonical JSON, for every job in the queue (dead ones too)
ajq:{NAME}:state     hash  id -> "DELIVERIES:TOKEN" (TOKEN empty when unlocked), once delivered
ajq:{NAME}:dead      zset  id -> time (µs) it was dead-lettered
ajq:{NAME}:errors    hash  id -> the last error it failed with (bounded), while in the queue
ajq:{NAME}:result:ID string  "DELIVERIES:COMPLETED_AT_µs:JSON", expiring; ID in hex
ajq:{NAME}:queue     string  time (µs) of the queue's first put: marks that the queue exists
ajq:{NAME}:wake      pub/sub channel: a job became due now, so sleeping consumers look
ajq:{NAME}:waiters   zset  "INBOX:TOKEN:LOCK_MS:COUNT" -> time (µs) it expires: a queue object
                     whose consumers are idle, waiting for the hand-off of new jobs; the
                     key expires with its longest entry (wait.lua), purge.lua deletes it
ajq:{NAME}:waiters:INBOX  list  batches of jobs handed off to that queue object, locked
                     under TOKEN (put.lua builds the key from the waiters key); expires
ajq:{NAME}:workers   zset  worker id -> time (µs) its heartbeat expires; live while in the future
ajq:{NAME}:worker:ID hash  what the worker ID reports of itself (host, pid, counts, …);
                     expires with its heartbeat
ajq:{NAME}:trace:ID  string  the trace context of job ID (aioredisjobqueue.otel); expires
ajq:{NAME}:done      pub/sub channel: jobs completed, dead-lettered or cancelled (ids)
ajq:{NAME}:ticks     hash  periodic schedule name -> its last tick queued (µs since the epoch)
ajq:{NAME}:shards    string  N, for a queue of N > 1 shards (``RedisJobQueue(name, shards=N)``)

A sharded queue keeps its jobs in N shards, each with every key above under a hash tag of
its own, ``NAME{I.SALT}`` for shard I (``ajq:{orders{0.5}:waiting``): no queue name holds a
"{", so no shard's key is any other queue's. SALT is the first number from 0 up that puts
the tag's cluster slot within a quarter segment of the middle of shard I's N-th of the
slot range, so the N shards spread evenly over the slots, and so over a cluster's
masters. The tags are part of the stored layout: ``shard_tags`` must never change. A
sharded queue's marker and ``shards`` key (and its workers) are under ``{NAME}`` itself.

Every job in the payloads hash sits in exactly one of ready, waiting, locked and dead. Only
the functions of lua/prelude.lua read or write a state ("DELIVERIES:TOKEN"), an entry of
the ready list and the server clock.
"""

from __future__ import annotations

import binascii
from dataclasses import dataclass
from functools import cache

__all__ = [
    "MARKER_PATTERN",
    "SLOTS",
    "WORKERS_PATTERN",
    "QueueKeys",
    "key_slot",
    "queue_name_of_marker",
    "queue_name_of_workers",
    "shard_tags",
    "validate_queue_name",
]

MAX_QUEUE_NAME = 200
# SCAN pattern of every queue's marker key (the queue name is between the braces)
MARKER_PATTERN = "ajq:{*}:queue"
# SCAN pattern of the worker lists of queues that have live (or lately dead) workers
WORKERS_PATTERN = "ajq:{*}:workers"
# The slots of a Redis Cluster
SLOTS = 16384


def validate_queue_name(name: object) -> str:
    """Return ``name`` if it can name a queue; raise ``TypeError``/``ValueError`` if not."""
    if not isinstance(name, str):
        raise TypeError(f"queue_name must be a str, got {name!r}")
    if not name:
        raise ValueError("queue_name must not be empty, got ''")
    if len(name) > MAX_QUEUE_NAME:
        raise ValueError(
            f"queue_name must be at most {MAX_QUEUE_NAME} characters, "
            f"got {len(name)}: {name[:40]!r}..."
        )
    try:
        name.encode()
    except UnicodeEncodeError as exc:
        raise ValueError(
            f"queue_name must be Unicode text, got {name[:40]!r} with the lone surrogate "
            f"{exc.object[exc.start : exc.end]!r} (UTF-8 has no bytes for it)"
        ) from None
    if "{" in name or "}" in name:
        raise ValueError(
            f"queue_name must not contain '{{' or '}}' (they delimit its hash tag), got {name!r}"
        )
    return name


@dataclass(frozen=True, slots=True)
class QueueKeys:
    """The key names of the queue ``name``; with ``shard`` (``"I.SALT"``), of that shard of
    the sharded queue ``name``."""

    name: str
    shard: str = ""

    @property
    def tag(self) -> str:
        """The hash tag every key of the queue (or of the shard) is under."""
        return f"{self.name}{{{self.shard}" if self.shard else self.name

    @property
    def prefix(self) -> str:
        return f"ajq:{{{self.tag}}}:"

    @property
    def ready(self) -> str:
        """List: id, time due (µs), … of the jobs due at once, oldest first."""
        return self.prefix + "ready"

    @property
    def waiting(self) -> str:
        """Zset: id -> time due (µs) of the jobs that wait for a time."""
        return self.prefix + "waiting"

    @property
    def locked(self) -> str:
        return self.prefix + "locked"

    @property
    def payloads(self) -> str:
        return self.prefix + "payloads"

    @property
    def state(self) -> str:
        return self.prefix + "state"

    @property
    def dead(self) -> str:
        return self.prefix + "dead"

    @property
    def errors(self) -> str:
        """Hash: id -> the last error a job failed with, while it is in the queue."""
        return self.prefix + "errors"

    def result(self, job_id: str) -> str:
        """String: the result of the completed job ``job_id`` (hex), while it is kept."""
        return f"{self.prefix}result:{job_id}"

    @property
    def marker(self) -> str:
        """Set by the first put and never removed: the queue exists (for ``stats`` and the
        command line, which find queues by it)."""
        return self.prefix + "queue"

    @property
    def wake(self) -> str:
        """The pub/sub channel on which the scripts announce jobs that are due now."""
        return self.prefix + "wake"

    @property
    def waiters(self) -> str:
        """Zset of the queue objects whose consumers are idle: "INBOX:TOKEN:LOCK_MS:COUNT"
        -> its expiry (µs). ``put.lua`` hands new jobs to one of them (``_inbox``). The key
        expires with its longest entry; ``purge()`` deletes it."""
        return self.prefix + "waiters"

    def inbox(self, inbox_id: str) -> str:
        """List: the batches of jobs handed off to the idle consumers of one queue object
        (``put.lua`` builds it as the waiters key, a colon and ``inbox_id``)."""
        return f"{self.waiters}:{inbox_id}"

    @property
    def ticks(self) -> str:
        """The last tick queued of each periodic schedule of the queue (``tick.lua``)."""
        return self.prefix + "ticks"

    @property
    def shards(self) -> str:
        """How many shards the queue has, for a queue of more than one (``RedisJobQueue(name,
        shards=N)``); set once, by its first use."""
        return self.prefix + "shards"

    @property
    def workers(self) -> str:
        """The live workers of the queue: a zset of worker ids scored by heartbeat expiry."""
        return self.prefix + "workers"

    @property
    def worker_prefix(self) -> str:
        """What ``worker(id)`` puts before the worker id (for scripts that list workers)."""
        return self.prefix + "worker:"

    def worker(self, worker_id: str) -> str:
        """The hash in which the worker ``worker_id`` reports itself; it expires by itself."""
        return self.worker_prefix + worker_id

    @property
    def done(self) -> str:
        """The pub/sub channel on which the scripts announce jobs that left the running:
        completed, dead-lettered or cancelled (their ids, 12 bytes each)."""
        return self.prefix + "done"

    def trace(self, job_id: str) -> str:
        """The trace context kept for job ``job_id`` (hex id) by ``aioredisjobqueue.otel``,
        apart from the job's payload and identity; it expires by itself."""
        return self.prefix + "trace:" + job_id

    def all(self) -> tuple[str, str, str, str, str, str, str]:
        """Every key that holds jobs or their errors (not the marker, nor the results of
        completed jobs, which expire by themselves; channels are no keys)."""
        return (
            self.waiting,
            self.locked,
            self.payloads,
            self.state,
            self.dead,
            self.errors,
            self.ready,
        )


def queue_name_of_marker(key: str) -> str | None:
    """The queue name in a marker key, or None if ``key`` is no marker."""
    return _name_in(key, "}:queue")


def queue_name_of_workers(key: str) -> str | None:
    """The queue name in the key of a queue's worker list, or None if ``key`` is none."""
    return _name_in(key, "}:workers")


def _name_in(key: str, suffix: str) -> str | None:
    """The queue name in ``key``; None for a key of no queue, or of a shard."""
    if key.startswith("ajq:{") and key.endswith(suffix):
        name = key[len("ajq:{") : -len(suffix)]
        return None if "{" in name else name
    return None


def key_slot(tag: str) -> int:
    """The Redis Cluster slot of every key under the hash tag ``tag`` (CRC16 mod 16384)."""
    return binascii.crc_hqx(tag.encode(), 0) % SLOTS


@cache
def shard_tags(name: str, shards: int) -> tuple[str, ...]:
    """The ``"I.SALT"`` of each shard of the queue ``name`` of ``shards`` shards, so that
    shard I's slot lies within a quarter segment of the middle of the I-th of ``shards``
    equal segments of the slot range (the nearest slot found, when no slot is that near)."""
    segment = SLOTS / shards
    tolerance = segment / 4
    tags = []
    for index in range(shards):
        target = (index + 0.5) * segment
        best, best_distance = "", float("inf")
        for salt in range(64 * SLOTS):
            shard = f"{index}.{salt}"
            distance = abs(key_slot(f"{name}{{{shard}") - target)
            if distance < best_distance:
                best, best_distance = shard, distance
                if distance <= tolerance:
                    break
        tags.append(best)
    return tuple(tags)
