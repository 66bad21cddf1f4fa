"""A minimal HTTP/1.1 server on asyncio streams, for health probes and metrics scrapes.

It answers GET and HEAD on fixed paths, one request per connection, and needs nothing
beyond the standard library, so probes work with the base package.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from typing import NamedTuple

__all__ = ["Reply", "Route", "serving"]

logger = logging.getLogger("aioredisjobqueue")

# A request line and headers longer than this, or slower than this, get no answer.
_MAX_HEAD = 16 * 1024
_READ_WITHIN = 10.0

_REASONS = {200: "OK", 404: "Not Found", 405: "Method Not Allowed", 503: "Service Unavailable"}


class Reply(NamedTuple):
    """A response: status code, content type and body."""

    status: int
    content_type: str
    body: bytes

    @classmethod
    def text(cls, status: int, line: str) -> Reply:
        """A one-line plain text reply."""
        return cls(status, "text/plain; charset=utf-8", f"{line}\n".encode())


Route = Callable[[], Awaitable[Reply]]


@contextlib.asynccontextmanager
async def serving(host: str, port: int, routes: Mapping[str, Route]) -> AsyncIterator[int]:
    """Serve ``routes`` (path -> async function of no argument) on ``host``:``port`` while
    inside; yields the port (useful with port 0). Raises ``OSError`` if it cannot listen."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            async with asyncio.timeout(_READ_WITHIN):
                head = await reader.readuntil(b"\r\n\r\n")
            method, _, rest = head.decode("latin-1").partition(" ")
            path = rest.partition(" ")[0].partition("?")[0]
            if method not in ("GET", "HEAD"):
                reply = Reply.text(405, f"method {method} not allowed")
            elif path in routes:
                reply = await routes[path]()
            else:
                reply = Reply.text(404, f"no page {path}: try {', '.join(sorted(routes))}")
            writer.write(
                (
                    f"HTTP/1.1 {reply.status} {_REASONS.get(reply.status, '')}\r\n"
                    f"Content-Type: {reply.content_type}\r\n"
                    f"Content-Length: {len(reply.body)}\r\n"
                    "Connection: close\r\n\r\n"
                ).encode("latin-1")
                + (b"" if method == "HEAD" else reply.body)
            )
            await writer.drain()
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, TimeoutError, OSError):
            pass  # a client that left, or sent no request in time: nothing to answer
        finally:
            writer.close()
            with contextlib.suppress(OSError):
                await writer.wait_closed()

    server = await asyncio.start_server(handle, host, port, limit=_MAX_HEAD)
    bound: int = server.sockets[0].getsockname()[1]
    try:
        yield bound
    finally:
        server.close()
        await server.wait_closed()
