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
from collections.abc import Awaitable, Callable, Mapping
from typing import Any

from redis.exceptions import ResponseError

__all__ = ["EvictionCheck", "check_eviction", "eviction_policy", "eviction_warning"]

logger = logging.getLogger("aioredisjobqueue")

SAFE_POLICY = "noeviction"
# sends one command, such as ("CONFIG", "GET", NAME), and returns its reply
Command = Callable[..., Awaitable[Any]]


async def eviction_policy(command: Command) -> str | None:
    """The server's ``maxmemory-policy``, or None if it will not tell.

    ``command`` sends one command (the queue's pipe, or a client's ``execute_command``).
    Asks ``CONFIG GET``, then ``INFO memory``; an error reply to both (no permission, an
    unknown or renamed command) means None. Connection errors are raised.
    """
    try:
        policy = _find(await command("CONFIG", "GET", "maxmemory-policy"), "maxmemory-policy")
    except ResponseError:  # NoPermissionError too: CONFIG is refused by ACL or disabled
        policy = None
    if policy is None:
        try:
            policy = _find(await command("INFO", "memory"), "maxmemory_policy")
        except ResponseError:
            return None
    return policy


def _find(reply: Any, name: str) -> str | None:
    """The value of ``name`` in a reply, parsed or raw: a mapping or a flat list of names
    and values (CONFIG GET), the text of INFO, or (from a cluster client) a mapping of
    nodes to such replies, where a policy that evicts wins over ``noeviction``."""
    if isinstance(reply, bytes | str):  # INFO as the server sends it: "name:value" lines
        lines = (line.partition(":") for line in _text(reply).splitlines())
        reply = {key: value for key, sep, value in lines if sep}
    elif isinstance(reply, list):
        reply = dict(zip(reply[::2], reply[1::2], strict=True))
    if not isinstance(reply, Mapping):
        return None
    for key, value in reply.items():
        if _text(key) == name and isinstance(value, str | bytes):
            return str(_text(value))
    found = [_find(value, name) for value in reply.values() if isinstance(value, Mapping)]
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


async def check_eviction(command: Command, queue_name: str) -> None:
    """Warn on the ``aioredisjobqueue`` logger if the server may evict the queue's keys."""
    message = eviction_warning(await eviction_policy(command), queue_name)
    if message is not None:
        logger.warning(message)


class EvictionCheck:
    """``check_eviction`` once: the first call asks the server, later ones return at once
    (a call that failed, by a connection error or a cancellation, leaves it to the next)."""

    __slots__ = ("_command", "_done", "_queue_name")

    def __init__(self, command: Command, queue_name: str) -> None:
        self._command = command
        self._queue_name = queue_name
        self._done = False

    async def __call__(self) -> None:
        if self._done:
            return
        self._done = True  # concurrent first calls do not ask again
        try:
            await check_eviction(self._command, self._queue_name)
        except BaseException:
            self._done = False
            raise
