"""What an idle worker sends Redis: every request in a window, seen through ``MONITOR``.

The latency workload's producer closes its own connections after its last job and opens a
``RequestCount`` for the quiet part of the silence that follows, so every request in the
window comes from the worker process (whose job-body client is idle then too). MONITOR
shows each request a client sent once, and each command a Lua script or function ran on
a line of its own (client ``lua``): requests and in-script commands are counted apart.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from types import TracebackType
from typing import Any

import redis.asyncio

__all__ = ["RequestCount"]


class RequestCount:
    """Counts, by command name, the requests Redis receives while the block runs.

    ``async with RequestCount(url) as seen: ...``; then ``seen.requests`` (a Counter of
    lower-case command names), ``seen.in_scripts`` (commands scripts ran) and
    ``seen.seconds`` (how long it watched). Its own connections are not counted: on exit
    it sends one marker ``ECHO`` and reads until MONITOR shows it, so that every request
    sent before the exit is in the counts.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.requests: Counter[str] = Counter()
        self.in_scripts = 0
        self.seconds = 0.0
        self._marker = f"bench-idle-end-{uuid.uuid4().hex}"
        self._client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url)
        self._marker_client: redis.asyncio.Redis = redis.asyncio.Redis.from_url(url)
        self._monitor: Any = None
        self._reader: asyncio.Task[None] | None = None
        self._started = 0.0

    async def __aenter__(self) -> RequestCount:
        # the marker's connection is made (and its handshake sent) before MONITOR starts
        await self._marker_client.ping()
        self._monitor = self._client.monitor()
        await self._monitor.__aenter__()
        self._started = time.monotonic()
        self._reader = asyncio.create_task(self._read())
        return self

    async def _read(self) -> None:
        while True:
            line = await self._monitor.connection.read_response()
            if isinstance(line, bytes):
                line = line.decode("utf-8", "replace")
            # 1700000000.123456 [0 127.0.0.1:5555] "EVALSHA" "abc" ...  /  [0 lua] "zadd" ...
            _, _, rest = line.partition(" [")
            source, _, command = rest.partition("] ")
            if self._marker in command:
                return
            name = command.split('" ', 1)[0].strip('"').lower()
            if source.endswith(" lua"):
                self.in_scripts += 1
            else:
                self.requests[name] += 1

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.seconds = time.monotonic() - self._started
        reader = self._reader
        try:
            if reader is not None and exc is None:
                await self._marker_client.echo(self._marker)
                await asyncio.wait_for(reader, timeout=30)
        finally:
            if reader is not None and not reader.done():
                reader.cancel()
                await asyncio.wait({reader})
            if self._monitor is not None:
                await self._monitor.__aexit__(None, None, None)
            await self._client.aclose()
            await self._marker_client.aclose()

    @property
    def total(self) -> int:
        """Requests counted (not the commands scripts ran)."""
        return sum(self.requests.values())
