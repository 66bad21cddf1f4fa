"""The shards check: a queue is opened with the number of shards it has in Redis.

A queue's number of shards is stored at its first use (for a queue of more than one) and
never changes, since it decides where every job is. Each queue object compares, once,
before its first put, get or look at the queue; a mismatch raises ``ShardsMismatchError``
before anything changed.
"""

from __future__ import annotations

from typing import Any

from ._deployment import Line
from ._errors import ShardsMismatchError
from ._keys import QueueKeys
from ._lua import _Script
from ._once import Once

__all__ = ["ShardCheck", "stored_shards"]


class ShardCheck:
    """``shards.lua`` once: the first call that succeeds claims or compares the queue's
    shards; later calls return at once. Concurrent first calls wait for one script call. A
    mismatch raises at every call."""

    __slots__ = ("_keys", "_once", "_script", "_shards")

    def __init__(self, line: Line, keys: QueueKeys, shards: int) -> None:
        self._script = _Script(line, "shards", (keys.shards, keys.marker))
        self._keys = keys
        self._shards = shards
        # concurrent first calls share one script call, and go on together
        self._once = Once(self._check)

    async def __call__(self) -> None:
        if not self._once.done:
            await self._once()

    async def _check(self) -> None:
        stored = int(await self._script(self._shards))
        if stored != self._shards:
            raise ShardsMismatchError(queue_name=self._keys.name, stored=stored, given=self._shards)


async def stored_shards(redis: Any, name: str) -> int:
    """How many shards the queue ``name`` has in Redis (1 if it is not sharded, or new)."""
    value = await redis.get(QueueKeys(name).shards)
    return 1 if value is None else int(value)
