"""FaultProxy: a TCP proxy on loopback that injects network faults, for the chaos test.

It sits between clients and a server (redis-server here) and relays bytes both ways; while
``faults_on`` it decides, for each chunk it reads, at random from its seed, to:

- ``drop``: close the connection at once, both sides (a chunk in flight is lost with it);
- ``delay``: hold the chunk for up to ``max_delay`` seconds before passing it on;
- ``split``: pass the chunk on in two to four writes, with a short pause between them.

``blackhole(seconds)`` passes nothing either way for a while (bytes and new connections
wait, as behind a network partition TCP retransmits), then everything held goes on;
``drop_all()`` closes every open connection. ``faults`` counts what was injected, by kind.
Bytes of one direction always arrive in order: the proxy never reorders or corrupts.
"""

from __future__ import annotations

import asyncio
import contextlib
import random
from collections import Counter
from types import TracebackType
from typing import Self

__all__ = ["FaultProxy"]

_CHUNK = 65536


class _Link:
    """One client connection and its upstream connection."""

    def __init__(self) -> None:
        self.writers: list[asyncio.StreamWriter] = []
        self.tasks: list[asyncio.Task[None]] = []

    def abort(self) -> None:
        for writer in self.writers:
            writer.transport.abort()


class FaultProxy:
    """A fault-injecting TCP proxy from ``127.0.0.1:port`` to ``127.0.0.1:upstream_port``.

    ``drop``, ``delay`` and ``split`` are the chances per chunk of each fault while
    ``faults_on`` (True at first). Use ``async with`` or ``start()``/``aclose()``.
    """

    def __init__(
        self,
        upstream_port: int,
        *,
        seed: int = 0,
        drop: float = 0.0,
        delay: float = 0.0,
        split: float = 0.0,
        max_delay: float = 0.05,
    ) -> None:
        self.upstream_port = upstream_port
        self.rng = random.Random(seed)
        self.drop = drop
        self.delay = delay
        self.split = split
        self.max_delay = max_delay
        self.faults_on = True
        self.faults: Counter[str] = Counter()
        self.connections = 0  # connections accepted so far
        self._clear = asyncio.Event()  # cleared while black-holing
        self._clear.set()
        self._links: set[_Link] = set()
        self._server: asyncio.Server | None = None
        self.port = 0

    @property
    def url(self) -> str:
        """``redis://127.0.0.1:PORT/0`` of the proxy."""
        return f"redis://127.0.0.1:{self.port}/0"

    @property
    def open_links(self) -> int:
        """How many client connections are open now."""
        return len(self._links)

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    async def aclose(self) -> None:
        """Stop accepting, close every connection, and wait for the relays to end."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
        self._clear.set()
        while self._links:
            link = self._links.pop()
            link.abort()
            for task in link.tasks:
                task.cancel()
            await asyncio.gather(*link.tasks, return_exceptions=True)

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    def drop_all(self) -> int:
        """Close every open connection now; returns how many."""
        links = list(self._links)
        for link in links:
            link.abort()
        self.faults["drop_all"] += 1
        return len(links)

    async def blackhole(self, seconds: float) -> None:
        """Pass nothing, either way, for ``seconds``; then pass on everything held."""
        self.faults["blackhole"] += 1
        self._clear.clear()
        try:
            await asyncio.sleep(seconds)
        finally:
            self._clear.set()

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        link = _Link()
        link.writers.append(writer)
        self._links.add(link)
        try:
            await self._clear.wait()
            try:
                up_reader, up_writer = await asyncio.open_connection(
                    "127.0.0.1", self.upstream_port
                )
            except OSError:
                return
            link.writers.append(up_writer)
            link.tasks = [
                asyncio.create_task(self._pump(reader, up_writer, link)),
                asyncio.create_task(self._pump(up_reader, writer, link)),
            ]
            # the first direction to end (EOF, error, or a drop) ends the connection
            await asyncio.wait(link.tasks, return_when=asyncio.FIRST_COMPLETED)
        finally:
            link.abort()
            for task in link.tasks:
                task.cancel()
            await asyncio.gather(*link.tasks, return_exceptions=True)
            self._links.discard(link)

    async def _pump(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, link: _Link
    ) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(_CHUNK):
                await self._clear.wait()
                pieces = [data]
                if self.faults_on:
                    if self.rng.random() < self.drop:
                        self.faults["drop"] += 1
                        link.abort()
                        return
                    if self.rng.random() < self.delay:
                        self.faults["delay"] += 1
                        await asyncio.sleep(self.rng.uniform(0, self.max_delay))
                    if len(data) > 1 and self.rng.random() < self.split:
                        self.faults["split"] += 1
                        pieces = self._split(data)
                for n, piece in enumerate(pieces):
                    if n:
                        await asyncio.sleep(self.rng.uniform(0, 0.002))
                    writer.write(piece)
                    await writer.drain()

    def _split(self, data: bytes) -> list[bytes]:
        """``data`` cut at one to three random places."""
        cuts = sorted(self.rng.sample(range(1, len(data)), min(len(data) - 1, 3)))
        cuts = cuts[: self.rng.randint(1, len(cuts))]
        return [data[a:b] for a, b in zip([0, *cuts], [*cuts, len(data)], strict=True)]
