"""The eviction check: a queue needs a Redis server that never evicts keys.

With a ``maxmemory-policy`` other than ``noeviction``, a server at its memory limit drops
whole keys to make room, a queue's zsets and payloads among them: acknowledged jobs vanish
without an error. Each queue object checks the policy once, at its first put or get, and
warns on the ``aioredisjobqueue`` logger if keys can be evicted. A server that will not say
(CONFIG refused by an ACL or disabled, as on managed Redis; then ``INFO memory``) gets no
warning.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from typing import Any

from redis.exceptions import ResponseError

__all__ = ["EvictionCheck", "check_eviction", "eviction_policy", "eviction_warning"]

logger = logging.getLogger("aioredisjobqueue")

SAFE_POLICY = "noeviction"


async def eviction_policy(redis: Any) -> str | None:
    """The server's ``maxmemory-policy``, or None if it will not tell.

    Asks ``CONFIG GET``, then ``INFO memory``; an error reply to both (no permission, an
    unknown or renamed command) means None. Connection errors are raised.
    """
    try:
        policy = _find(await redis.config_get("maxmemory-policy"), "maxmemory-policy")
    except ResponseError:  # NoPermissionError too: CONFIG is refused by ACL or disabled
        policy = None
    if policy is None:
        try:
            policy = _find(await redis.info("memory"), "maxmemory_policy")
        except ResponseError:
            return None
    return policy


def _find(reply: Any, name: str) -> str | None:
    """The value of ``name`` in a reply: a mapping, or (from a cluster client) a mapping of
    nodes to mappings, where a policy that evicts wins over ``noeviction``."""
    if not isinstance(reply, Mapping):
        return None
    for key, value in reply.items():
        if _text(key) == name and isinstance(value, str | bytes):
            return str(_text(value))
    found = [_find(value, name) for value in reply.values()]
    policies = sorted({policy for policy in found if policy is not None})
    unsafe = [policy for policy in policies if policy != SAFE_POLICY]
    return (unsafe or policies)[0] if policies else None


def _text(value: Any) -> Any:
    return value.decode() if isinstance(value, bytes) else value


def eviction_warning(policy: str | None, queue_name: str) -> str | None:
    """The warning for ``policy``, or None if it is safe or unknown."""
    if policy is None or policy == SAFE_POLICY:
        return None
    return (
        f"Redis has maxmemory-policy {policy}: at its memory limit it evicts keys, and jobs "
        f"of queue {queue_name!r} can be lost without an error; set maxmemory-policy "
        f"noeviction (then a full Redis refuses writes with an OOM error instead)"
    )


async def check_eviction(redis: Any, queue_name: str) -> None:
    """Warn on the ``aioredisjobqueue`` logger if the server may evict the queue's keys."""
    message = eviction_warning(await eviction_policy(redis), queue_name)
    if message is not None:
        logger.warning(message)


class EvictionCheck:
    """``check_eviction`` once: the first call asks the server, later ones return at once
    (a call that failed, by a connection error or a cancellation, leaves it to the next)."""

    __slots__ = ("_done", "_queue_name", "_redis")

    def __init__(self, redis: Any, queue_name: str) -> None:
        self._redis = redis
        self._queue_name = queue_name
        self._done = False

    async def __call__(self) -> None:
        if self._done:
            return
        self._done = True  # concurrent first calls do not ask again
        try:
            await check_eviction(self._redis, self._queue_name)
        except BaseException:
            self._done = False
            raise
