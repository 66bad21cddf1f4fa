"""What the dashboard shows, read from Redis into plain JSON-ready dicts.

No web framework here: the routes in ``_app.py`` turn these dicts into responses. Lists of
jobs are read a page at a time (``page.lua``: ranks in a zset, never a whole queue);
payloads in lists are cut to a preview, and only the page of one job shows a whole one.
"""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

from .. import _args
from .._errors import DeadJobError, JobNotFoundError
from .._inspect import queue_exists, queue_names
from .._keys import validate_queue_name
from .._queue import RedisJobQueue
from .._scripts import Page, PageEntry, Scripts
from .._sharded import open_queue

__all__ = ["MAX_PAGE", "STATES", "NoSuchQueue", "Reader"]

# the zset and the part of it that hold the jobs of each state the dashboard lists
STATES = {
    "ready": ("waiting", "due"),
    "delayed": ("waiting", "later"),
    "locked": ("locked", "all"),
    "dead": ("dead", "all"),
}
MAX_PAGE = 200
PREVIEW_BYTES = 300


class NoSuchQueue(LookupError):
    """The queue is not shown: nothing was ever put in it, or the dashboard is limited to
    other queues."""


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _pretty(text: str) -> str:
    """A payload's JSON, indented for reading (as it is when it is no valid JSON)."""
    try:
        return json.dumps(json.loads(text), indent=2, ensure_ascii=False, sort_keys=True)
    except ValueError:
        return text


def _task(text: str) -> str | None:
    """The task a typed task's job runs (``{"task": NAME, "args": {...}}``), else None."""
    try:
        payload = json.loads(text)
    except ValueError:
        return None
    task = payload.get("task") if isinstance(payload, dict) else None
    return task if isinstance(task, str) else None


def _plain(value: Any) -> Any:
    """``value`` (a dataclass, say) made of JSON types only."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        value = dataclasses.asdict(value)
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [_plain(v) for v in value]
    if isinstance(value, dt.datetime):
        return value.timestamp()
    if value is None or isinstance(value, bool | int | float | str):
        return value
    return str(value)


class Reader:
    """Reads queues on ``client``: every queue in the database, or only ``queues``."""

    def __init__(self, client: Any, queues: Sequence[str] | None = None) -> None:
        self.client = client
        self.only = None if queues is None else sorted(set(queues))

    async def names(self) -> list[str]:
        """The queues shown, sorted: the ones given, else every queue in the database."""
        if self.only is not None:
            return list(self.only)
        return await queue_names(self.client)

    async def queue(self, name: str) -> RedisJobQueue:
        """The queue ``name``; ``ValueError`` for a bad name, ``NoSuchQueue`` if not shown."""
        try:
            validate_queue_name(name)
        except TypeError as exc:
            raise ValueError(str(exc)) from None
        if self.only is not None and name not in self.only:
            raise NoSuchQueue(f"queue {name!r} is not one of the queues this dashboard shows")
        if not await queue_exists(self.client, name):
            raise NoSuchQueue(f"no queue {name!r}: nothing was ever put in it")
        return await open_queue(name, self.client)

    async def overview(self) -> dict[str, Any]:
        """Every queue shown with its counts and number of live workers, and those workers
        (once each, however many of the queues it serves)."""
        queues: list[dict[str, Any]] = []
        workers: dict[str, dict[str, Any]] = {}
        for name in await self.names():
            queue = await open_queue(name, self.client)
            stats = await queue.stats()
            alive = await queue.workers()
            row: dict[str, Any] = {"name": name, **dataclasses.asdict(stats)}
            queues.append(row | {"total": stats.total, "workers": len(alive)})
            for worker in alive:
                workers.setdefault(worker.id, _plain(worker))
        listed = sorted(workers.values(), key=lambda w: (w["host"], w["pid"], w["id"]))
        secs, micros = await self.client.time()
        return {"queues": queues, "workers": listed, "now": secs + micros / 1_000_000}

    async def jobs(self, name: str, state: str, start: int, count: int) -> dict[str, Any]:
        """Jobs ``start`` to ``start + count`` of the queue ``name`` in ``state`` (one of
        ``STATES``), and the queue's counts."""
        if state not in STATES:
            raise ValueError(f"state must be one of {', '.join(STATES)}, got {state!r}")
        if isinstance(start, bool) or not isinstance(start, int) or start < 0:
            raise ValueError(f"start must be an int >= 0, got {start!r}")
        _args.positive_int(count, "count")
        if count > MAX_PAGE:
            raise ValueError(f"count must be at most {MAX_PAGE}, got {count!r}")
        queue = await self.queue(name)
        zset, part = STATES[state]
        page = await self._page(queue, zset, part, start, count)
        stats = await queue.stats()
        jobs = [
            {
                "id": e.id,
                "preview": _text(e.preview),
                "truncated": e.payload_bytes > PREVIEW_BYTES,
                "payload_bytes": e.payload_bytes,
                "deliveries": e.deliveries,
                "at": e.score_us / 1_000_000,
                "error": e.error,
                "task": e.task,
            }
            for e in page.entries
        ]
        return {
            "queue": name,
            "state": state,
            "start": start,
            "count": count,
            "total": page.total,
            "now": page.now_us / 1_000_000,
            "counts": {**dataclasses.asdict(stats), "total": stats.total},
            "jobs": jobs,
        }

    async def _page(
        self, queue: RedisJobQueue, zset: str, part: str, start: int, count: int
    ) -> Page:
        """Jobs ``start`` to ``start + count`` of a state; a sharded queue's shard after
        shard (in order within each shard), one script call per shard."""
        now_us, total = 0, 0
        entries: list[PageEntry] = []
        for keys in queue.shard_keys:
            want = count - len(entries)
            local = max(0, start - total)
            page = await Scripts(self.client, keys).page(
                zset, part, local, max(want, 1), PREVIEW_BYTES
            )
            if want > 0 and start < total + page.total:
                entries.extend(page.entries[:want])
            now_us, total = max(now_us, page.now_us), total + page.total
        return Page(now_us, total, entries)

    async def job(self, name: str, job_id: str) -> dict[str, Any]:
        """The job ``job_id`` of the queue ``name`` as ``queue.status()`` tells it, with its
        payload (or, once completed, its kept result); ``state`` None when the queue has no
        such job and keeps no result of it."""
        job_id = _args.job_id(job_id, "id")
        queue = await self.queue(name)
        status = await queue.status(job_id)
        secs, micros = await self.client.time()
        found: dict[str, Any] = {
            "queue": name,
            "id": job_id,
            "state": None,
            "now": secs + micros / 1_000_000,
            "payload": None,
            "result": None,
            "task": None,
        }
        if status is None:
            return found
        found |= _plain(status)
        if status.state == "completed":
            with contextlib.suppress(JobNotFoundError, DeadJobError, TimeoutError):
                kept = await queue.result(job_id, timeout=5)
                found["result"] = json.dumps(kept, indent=2, ensure_ascii=False, sort_keys=True)
        else:
            payload = await self.client.hget(queue.keys.payloads, bytes.fromhex(job_id))
            if payload is not None:
                found["payload"] = _pretty(_text(payload))
                found["task"] = _task(_text(payload))
        return found
