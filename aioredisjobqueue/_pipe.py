"""Pipe: one pooled connection shared by all the script calls of a queue object.

Commands are written as they come, without waiting for the replies of earlier ones, and
one reader task matches the replies to the callers in order (Redis answers each connection
in order). A call costs one write and one future, instead of a pool checkout and a
request-response turn of its own, and any number of concurrent calls share the connection.

The pipe owns its connection: redis-py makes it and says hello (AUTH, SELECT, HELLO,
CLIENT SETNAME), then the pipe writes to its stream and parses its replies itself, and
never lets redis-py reconnect it behind the reader. Each connection is a ``_Link``, used
from its checkout to its end and never again:

- A call is queued for its reply and written in the same step, with nothing awaited
  between, so a call is either written in full and waits for its reply, or neither; a
  caller cancelled later (while the write drains, or while waiting) loses only its reply,
  which the reader still reads and drops (handing it to the call's ``orphan`` callback if
  it has one, so that jobs taken for a cancelled caller can be given back).
- Any failure while writing or reading breaks the link as a whole: every call in flight on
  it gets ``redis.exceptions.ConnectionError`` (whether it ran is unknown), no reply of
  it is handed out any more, and the next call gets a fresh connection. Nothing is
  retried: a command that may have run is never sent twice.
"""

from __future__ import annotations

import asyncio
import collections
from collections.abc import Callable, Sequence
from typing import Any

import hiredis
from redis._parsers.base import BaseParser
from redis.asyncio import ConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import InvalidResponse, ResponseError

from ._tasks import stop

__all__ = ["Orphan", "Pipe"]

# Receives the reply of a call whose caller was cancelled while it was in flight.
Orphan = Callable[[Any], None]

_MORE = object()  # the parser needs more bytes
_READ_SIZE = 65536


class _Link:
    """One connection of the pipe, from its checkout to its end."""

    __slots__ = ("conn", "failure", "reader", "stream", "waiting", "writer")

    def __init__(self, conn: Any) -> None:
        self.conn = conn
        # the streams redis-py opened and greeted the server on; from now on only the
        # pipe touches them, and redis-py's own send and read methods are never called
        self.writer: asyncio.StreamWriter = conn._writer
        self.stream: asyncio.StreamReader = conn._reader
        self.waiting: collections.deque[tuple[asyncio.Future[Any], Orphan | None]] = (
            collections.deque()
        )
        self.failure: BaseException | None = None  # set once: the link is broken
        self.reader: asyncio.Task[None] | None = None


async def _reply(future: asyncio.Future[Any], orphan: Orphan | None) -> Any:
    """The reply ``future`` brings; if the caller is cancelled meanwhile, ``orphan`` gets it."""
    try:
        return await future
    except asyncio.CancelledError:
        # the reply came in the same instant as the cancellation: it is here already
        _hand_over(future, orphan)
        raise


def _hand_over(future: asyncio.Future[Any], orphan: Orphan | None) -> None:
    """Give ``orphan`` the reply ``future`` holds (not an error reply), if it holds one."""
    if future.cancelled() or future.exception() is not None:
        return
    if orphan is not None:
        orphan(future.result())


def _lost(failure: BaseException) -> RedisConnectionError:
    return RedisConnectionError(
        f"connection to Redis lost, the command may or may not have run: {failure!r}"
    )


class Pipe:
    """Send commands on one connection of ``pool``, pipelined."""

    def __init__(self, pool: ConnectionPool) -> None:
        self._pool = pool
        self._link: _Link | None = None
        self._connect_lock = asyncio.Lock()
        self._closed = False

    async def execute(self, *args: Any, orphan: Orphan | None = None, asking: bool = False) -> Any:
        """Send one command and return its reply; a Redis error reply raises.

        If the caller is cancelled after the command went out, ``orphan`` receives the
        reply (not an error reply) when it comes, from the reader task: it must not block.
        Replies are bytes, never decoded. ``asking`` sends ``ASKING`` (a cluster node's
        leave to serve a slot it is importing) right before the command, in the same write.
        """
        if not asking:
            (future,) = await self._send([hiredis.pack_command(args)], [orphan])
            return await _reply(future, orphan)
        asked = [hiredis.pack_command(("ASKING",)), hiredis.pack_command(args)]
        skip, future = await self._send(asked, [None, orphan])
        if not skip.cancel():  # the reply of ASKING is dropped
            _hand_over(skip, None)
        return await _reply(future, orphan)

    async def execute_all(
        self, commands: Sequence[tuple[Any, ...]], orphans: Sequence[Orphan | None]
    ) -> list[Any]:
        """Send several commands in one write (one round trip) and return their replies in
        order; an error reply is returned as its exception, not raised. A lost connection
        raises, for all of them alike.

        If the caller is cancelled after the commands went out, ``orphans[i]`` receives the
        reply of command ``i`` (as ``execute``'s ``orphan`` does).
        """
        futures = await self._send([hiredis.pack_command(c) for c in commands], orphans)
        replies: list[Any] = []
        try:
            for future, orphan in zip(futures, orphans, strict=True):
                try:
                    replies.append(await _reply(future, orphan))
                except ResponseError as exc:
                    replies.append(exc)
        except BaseException:  # cancelled, or the connection was lost
            for future, orphan in zip(
                futures[len(replies) + 1 :], orphans[len(replies) + 1 :], strict=True
            ):
                if not future.cancel():  # its reply is in: an orphan's (or a lost one)
                    _hand_over(future, orphan)
            raise
        return replies

    async def _send(
        self, packed: list[bytes], orphans: Sequence[Orphan | None]
    ) -> list[asyncio.Future[Any]]:
        """Write ``packed`` commands at once; the futures of their replies, in order."""
        link = self._link
        while link is None or link.failure is not None:
            link = await self._connect()
        loop = asyncio.get_running_loop()
        futures: list[asyncio.Future[Any]] = []
        # queued and written in one step: the transport takes every byte at once (it
        # buffers what the socket cannot take yet), so the commands go out in full
        for orphan in orphans:
            future: asyncio.Future[Any] = loop.create_future()
            link.waiting.append((future, orphan))
            futures.append(future)
        link.writer.write(packed[0] if len(packed) == 1 else b"".join(packed))
        try:
            await link.writer.drain()  # waits only while the transport's buffer is full
        except asyncio.CancelledError:
            for future in futures:
                future.cancel()  # the commands still go out; the reader drops the replies
            raise
        except Exception as exc:  # the connection broke under the write
            self._break(link, exc)
        return futures

    async def _connect(self) -> _Link:
        async with self._connect_lock:
            if self._closed:
                raise RedisConnectionError("the queue is closed")
            link = self._link
            if link is not None and link.failure is None:
                return link
            conn = await self._pool.get_connection()  # type: ignore[no-untyped-call]
            try:
                await conn.connect()
                link = _Link(conn)
                if link.writer is None or link.stream is None or link.writer.is_closing():
                    raise RedisConnectionError("connection to Redis closed as it opened")
            except BaseException:
                await conn.disconnect(nowait=True)
                await self._pool.release(conn)
                raise
            link.reader = asyncio.get_running_loop().create_task(self._read(link))
            self._link = link
            return link

    async def _read(self, link: _Link) -> None:
        parser = hiredis.Reader(
            protocolError=InvalidResponse,
            replyError=BaseParser.parse_error,
            notEnoughData=_MORE,
        )
        waiting = link.waiting
        failure: BaseException = RedisConnectionError("the queue is closed")
        try:
            while link.failure is None:
                reply = parser.gets()
                if reply is _MORE:
                    data = await link.stream.read(_READ_SIZE)
                    if not data:
                        raise RedisConnectionError("Redis closed the connection")
                    parser.feed(data)
                    continue
                if not waiting:
                    raise InvalidResponse(f"a reply nobody asked for: {reply!r}")
                future, orphan = waiting.popleft()
                if future.done():  # its caller was cancelled
                    if orphan is not None and not isinstance(reply, Exception):
                        orphan(reply)
                elif isinstance(reply, Exception):
                    future.set_exception(reply)
                else:
                    future.set_result(reply)
        except asyncio.CancelledError as exc:  # the pipe closes
            failure = exc
            raise
        except Exception as exc:  # the connection broke: its callers get the error
            failure = exc
        finally:
            self._break(link, failure)
            await link.conn.disconnect(nowait=True)
            await self._pool.release(link.conn)

    def _break(self, link: _Link, failure: BaseException) -> None:
        """Break ``link`` as a whole: fail every call waiting on it, close its socket."""
        if link.failure is not None:
            return
        link.failure = failure
        if self._link is link:
            self._link = None
        while link.waiting:
            future, _ = link.waiting.popleft()
            if not future.done():
                future.set_exception(_lost(failure))
        # the reader sees the end of the stream, stops, and gives the connection back
        link.writer.transport.abort()

    async def aclose(self) -> None:
        """Stop the reader and give the connection back to the pool."""
        self._closed = True
        async with self._connect_lock:
            link, self._link = self._link, None
        if link is not None and link.reader is not None:
            self._break(link, RedisConnectionError("the queue is closed"))
            await stop([link.reader])
