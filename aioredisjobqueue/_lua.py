"""One Lua script of a queue: loaded once from ``lua/*.lua``, after the prelude, and run.

Scripts run by EVALSHA; a script the server does not know (after a restart or SCRIPT
FLUSH) is sent again whole by EVAL, which is safe because a NOSCRIPT reply means nothing
ran. ``_scripts.Scripts`` gives each script of a queue its typed wrapper; the inbox and
the shards check run theirs with ``_Script`` directly.
"""

from __future__ import annotations

import hashlib
from functools import cache
from importlib import resources
from typing import Any

from redis.client import NEVER_DECODE
from redis.exceptions import NoScriptError

from ._deployment import Line
from ._pipe import Orphan
from ._route import ClusterRoute

__all__ = ["_RAW", "_Script", "_source"]


def _read(name: str) -> str:
    return resources.files(__package__).joinpath("lua", f"{name}.lua").read_text("utf-8")


@cache
def _source(name: str) -> tuple[str, str]:
    """The text of script ``name`` as the server runs it, and its SHA1.

    Every script starts with ``lua/prelude.lua``: the one place that knows the format of a
    job's state ("DELIVERIES:TOKEN") and how to read the server's clock. A script's header
    comes after it: line numbers in the server's error messages count the prelude's too.
    """
    text = _read("prelude") + _read(name)
    return text, hashlib.sha1(text.encode()).hexdigest()


# Replies as the server sends them, whatever the client's ``decode_responses``: job ids are
# 12 raw bytes, which no text encoding can be trusted to decode (redis-py's own DUMP uses it).
_RAW: dict[str, Any] = {NEVER_DECODE: True}


class _Script:
    """One script bound to its keys, run on the queue's pipe or, without one, its client."""

    __slots__ = ("_head", "_line", "_source")

    def __init__(self, line: Line, name: str, keys: tuple[str, ...]) -> None:
        self._line = line
        self._source, sha = _source(name)
        self._head: tuple[Any, ...] = (sha, len(keys), *keys)

    async def __call__(self, *args: Any, orphan: Orphan | None = None) -> Any:
        """Run the script; ``orphan`` gets its reply if the caller is cancelled while it runs
        (only on the pipe: a client drops the connection and the reply with it).

        A script the server does not know (NOSCRIPT: it restarted, or its script cache was
        flushed) is sent again with its source by EVAL, which runs it and caches it for
        the next EVALSHA. That is safe, since a NOSCRIPT reply means nothing ran, and it
        cannot meet NOSCRIPT again however often the cache is flushed.
        """
        line = self._line
        if line.pending:
            await line.ready()
        pipe = line.pipe
        if pipe is None:
            client = line.redis
            try:
                return await client.execute_command("EVALSHA", *self._head, *args, **_RAW)
            except NoScriptError:
                return await client.execute_command(
                    "EVAL", self._source, *self._head[1:], *args, **_RAW
                )
        try:
            return await pipe.execute("EVALSHA", *self._head, *args, orphan=orphan)
        except NoScriptError:
            return await pipe.execute("EVAL", self._source, *self._head[1:], *args, orphan=orphan)

    def command(self, *args: Any) -> tuple[Any, ...]:
        """The EVALSHA command that runs the script with ``args``, for ``Pipe.execute_all``."""
        return ("EVALSHA", *self._head, *args)

    async def replicated(self, replicas: int, timeout_ms: int, *args: Any) -> tuple[Any, int]:
        """Run the script, then ``WAIT replicas timeout_ms`` on the same connection, in one
        round trip: (its reply, how many replicas confirmed it).

        Not on the pipe: a WAIT there would hold up every other call of the queue for as
        long as it waits. A script the server does not know is sent again by EVAL.
        """
        if self._line.pending:
            await self._line.ready()
        reply, acked = await self._then_wait(("EVALSHA", *self._head, *args), replicas, timeout_ms)
        if isinstance(reply, NoScriptError):
            command = ("EVAL", self._source, *self._head[1:], *args)
            reply, acked = await self._then_wait(command, replicas, timeout_ms)
        for outcome in (reply, acked):
            if isinstance(outcome, Exception):
                raise outcome
        return reply, int(acked)

    async def _then_wait(
        self, command: tuple[Any, ...], replicas: int, timeout_ms: int
    ) -> tuple[Any, Any]:
        pipe = self._line.pipe
        if isinstance(pipe, ClusterRoute):  # on the slot's primary, following MOVED
            return await pipe.then_wait(command, replicas, timeout_ms)
        async with self._line.redis.pipeline(transaction=False) as pipeline:
            pipeline.execute_command(*command, **_RAW)
            pipeline.execute_command("WAIT", replicas, timeout_ms)
            reply, acked = await pipeline.execute(raise_on_error=False)
        return reply, acked
