"""Pipe: one pooled connection shared by all the script calls of a queue object.

Commands are written as they come, without waiting for the replies of earlier ones, and
one reader task matches the replies to the callers in order (Redis answers each connection
in order). A call costs one packed write and one future, instead of a pool checkout and a
request-response turn of its own, and any number of concurrent calls share the connection.

A caller cancelled while waiting for its reply loses only the reply: the reader still reads
it, hands it to the call's ``orphan`` callback if it has one (so that jobs taken for a
cancelled caller can be given back) and drops it, so the connection stays in step. A
broken connection fails every call then waiting with ``redis.exceptions.ConnectionError``;
the next call connects again. Nothing is retried: a command that may have run is never
sent twice.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable
from typing import Any

import hiredis
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from ._tasks import stop

__all__ = ["Orphan", "Pipe"]

# Receives the reply of a call whose caller was cancelled while it was in flight.
Orphan = Callable[[Any], None]


class Pipe:
    """Send commands on one connection of ``pool``, pipelined."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._conn: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._waiting: collections.deque[tuple[asyncio.Future[Any], Orphan | None]] = (
            collections.deque()
        )
        self._connect_lock = asyncio.Lock()
        self._closed = False

    async def execute(self, *args: Any, orphan: Orphan | None = None) -> Any:
        """Send one command and return its reply; a Redis error reply raises.

        If the caller is cancelled after the command went out, ``orphan`` receives the
        reply (not an error reply) when it comes, from the reader task: it must not block.
        """
        conn = self._conn if self._conn is not None else await self._connect()
        future: asyncio.Future[Any] = asyncio.get_running_loop().create_future()
        self._waiting.append((future, orphan))
        try:
            # with no socket timeout this write does not suspend unless the socket's buffer
            # is full, so a cancellation almost never cuts a command in half; when one does,
            # redis-py drops the connection and every waiting call fails with it
            await conn.send_packed_command(hiredis.pack_command(args), check_health=False)
        except BaseException:
            future.cancel()
            raise
        try:
            return await future
        except asyncio.CancelledError:
            # the reply came in the same instant as the cancellation: it is here already
            if orphan is not None and not future.cancelled() and future.exception() is None:
                orphan(future.result())
            raise

    async def _connect(self) -> Any:
        async with self._connect_lock:
            if self._closed:
                raise RedisConnectionError("the queue is closed")
            if self._conn is None:
                conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
                try:
                    await conn.connect()
                except BaseException:
                    await self._pool.release(conn)
                    raise
                self._conn = conn
                self._reader = asyncio.get_running_loop().create_task(self._read(conn))
            return self._conn

    async def _read(self, conn: Any) -> None:
        failure: BaseException | None = None
        try:
            while True:
                try:
                    # raw bytes even on a pool made with decode_responses (a URL may say
                    # so): job ids are 12 raw bytes
                    reply: Any = await conn.read_response(
                        disable_decoding=True, disconnect_on_error=False
                    )
                except ResponseError as exc:
                    reply = exc
                future, orphan = self._waiting.popleft()
                if future.done():  # its caller was cancelled
                    if orphan is not None and not isinstance(reply, ResponseError):
                        orphan(reply)
                    continue
                if isinstance(reply, ResponseError):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except asyncio.CancelledError as exc:
            failure = exc
            raise
        except Exception as exc:  # the connection broke: its callers get the error
            failure = exc
        finally:
            await self._drop(conn, failure)

    async def _drop(self, conn: Any, failure: BaseException | None) -> None:
        """Forget ``conn`` and fail every call that waited on it."""
        if self._conn is conn:
            self._conn = None
            self._reader = None
        waiting, self._waiting = self._waiting, collections.deque()
        if waiting:
            error = RedisConnectionError(f"connection to Redis lost: {failure!r}")
            for future, _ in waiting:
                if not future.done():
                    future.set_exception(error)
        await conn.disconnect(nowait=True)
        await self._pool.release(conn)

    async def aclose(self) -> None:
        """Stop the reader and give the connection back to the pool."""
        self._closed = True
        if self._reader is not None:
            await stop([self._reader])
