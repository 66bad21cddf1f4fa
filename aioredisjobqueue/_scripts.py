"""The queue's Lua scripts: loaded once from ``lua/*.lua``, one typed wrapper each.

Every state change of a queue is one script call, so it is atomic and one round trip.
Scripts run by EVALSHA; redis-py loads a script again when the server answers NOSCRIPT
(after a restart or SCRIPT FLUSH).
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache
from importlib import resources
from typing import Any

from redis.commands.core import AsyncScript

from ._keys import QueueKeys

__all__ = ["DeadEntry", "Delivery", "Scripts"]


@cache
def _source(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


@dataclass(frozen=True, slots=True)
class Delivery:
    """A job as ``get.lua`` hands it out."""

    id: str
    payload: bytes | str
    deliveries: int


@dataclass(frozen=True, slots=True)
class DeadEntry:
    """A dead-lettered job as ``dead.lua`` lists it."""

    id: str
    payload: bytes | str
    deliveries: int
    died_at_us: int


class Scripts:
    """The scripts of one queue, bound to its client and keys."""

    def __init__(self, client: Any, keys: QueueKeys) -> None:
        self._keys = list(keys.all())
        self._put = self._register(client, "put")
        self._get = self._register(client, "get")
        self._extend = self._register(client, "extend")
        self._release = self._register(client, "release")
        self._complete = self._register(client, "complete")
        self._stats = self._register(client, "stats")
        self._dead = self._register(client, "dead")
        self._requeue_dead = self._register(client, "requeue_dead")

    @staticmethod
    def _register(client: Any, name: str) -> AsyncScript:
        script: AsyncScript = client.register_script(_source(name))
        return script

    async def put(self, delay_us: int, jobs: list[tuple[str, bytes]]) -> list[bool]:
        """Queue each (id, text) not in the queue yet; True for each one queued."""
        args: list[Any] = [delay_us]
        for job_id, text in jobs:
            args.append(job_id)
            args.append(text)
        added = await self._put(keys=self._keys, args=args)
        return [bool(a) for a in added]

    async def get(
        self, count: int, lock_ms: int, token: str, max_deliveries: int
    ) -> list[Delivery]:
        """Lock up to ``count`` due jobs under ``token``."""
        flat = await self._get(keys=self._keys, args=[count, lock_ms, token, max_deliveries])
        return [
            Delivery(_text(flat[i]), flat[i + 1], int(flat[i + 2])) for i in range(0, len(flat), 3)
        ]

    async def extend(self, job_id: str, token: str, lock_ms: int) -> bool:
        """Move the lock expiry to ``lock_ms`` from now; False if ``token`` lost the job."""
        return bool(await self._extend(keys=self._keys, args=[job_id, token, lock_ms]))

    async def release(self, job_id: str, token: str, delay_us: int, max_deliveries: int) -> int:
        """Give the job back: 1 waiting again, 2 dead-lettered, 0 ``token`` lost it."""
        result = await self._release(
            keys=self._keys, args=[job_id, token, delay_us, max_deliveries]
        )
        return int(result)

    async def complete(self, held: list[tuple[str, str]]) -> list[bool]:
        """Remove each (id, token) the token holds; True for each one removed."""
        args: list[str] = []
        for job_id, token in held:
            args.append(job_id)
            args.append(token)
        done = await self._complete(keys=self._keys, args=args)
        return [bool(d) for d in done]

    async def stats(self) -> tuple[int, int, int, int]:
        """(ready, locked, delayed, dead) by the server's clock."""
        ready, locked, delayed, dead = await self._stats(keys=self._keys, args=[])
        return int(ready), int(locked), int(delayed), int(dead)

    async def dead(self, limit: int | None) -> list[DeadEntry]:
        """Dead-lettered jobs, oldest first, at most ``limit`` of them (None: all)."""
        last = -1 if limit is None else limit - 1
        flat = await self._dead(keys=self._keys, args=[last])
        return [
            DeadEntry(_text(flat[i]), flat[i + 1], int(flat[i + 2]), int(float(flat[i + 3])))
            for i in range(0, len(flat), 4)
        ]

    async def requeue_dead(self, job_ids: list[str]) -> int:
        """Put the dead jobs ``job_ids`` (empty: all) back, due now; how many moved."""
        return int(await self._requeue_dead(keys=self._keys, args=job_ids))
