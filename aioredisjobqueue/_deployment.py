"""Deployment: how one queue object reaches Redis, settled at its first call.

It holds the queue's client, its pipelined connection (on a cluster, its route to the
primary of its slot), the client its subscriptions use, and whether its pub/sub channels
are shard channels. A queue given a plain ``redis://`` URL (or ``redis_host``/``redis_port``)
does not know yet whether that node is a node of a Redis Cluster: its first call asks it
(``INFO cluster``, one round trip per queue object) and, if ``cluster_enabled`` is 1, goes
on as a cluster queue, through any node of the cluster, as with ``cluster=True``. Every
call waits for that answer, so the scripts always publish as the subscribers listen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Protocol

from ._client import Client, close_client, detect_cluster, open_pubsub
from ._once import Once
from ._route import Caller, ClusterRoute

__all__ = ["Deployment", "Fixed", "Line"]


class Line(Protocol):
    """What the scripts run on: a client, the pipe to send on (None: the client), whether
    the queue's channels are shard channels, and whether that is settled yet (else
    ``ready()`` settles it, as a ``Deployment`` does)."""

    @property
    def redis(self) -> Any: ...

    @property
    def pipe(self) -> Caller | None: ...

    @property
    def sharded(self) -> bool: ...

    @property
    def pending(self) -> bool: ...

    async def ready(self) -> None: ...


@dataclass(frozen=True, slots=True)
class Fixed:
    """A ``Line`` settled from the start: a client, its pipe, its kind of channels."""

    redis: Any
    pipe: Caller | None = None
    sharded: bool = False
    pending: bool = False

    async def ready(self) -> None:
        """Nothing to settle."""


class Deployment:
    """The client, pipe or route, and subscriber of the queue whose keys hash like ``key``.

    A shard of a sharded queue has one of its own ``of`` the queue's: it follows the
    queue's answer, shares the queue's pipe on one node and has its own route to the
    primary of its slot on a cluster; the queue's closes the client."""

    def __init__(
        self, client: Client, key: str, max_connections: int, *, of: Deployment | None = None
    ) -> None:
        self._key = key
        self._max_connections = max_connections
        self._of = of
        # concurrent first calls share the question, and go on together
        self._settle = Once(self._ask)
        self.pending = client.cluster is not None  # until the node said what it is
        self._use(client)

    def _use(self, client: Client) -> None:
        self.client = client
        self.route: ClusterRoute | None = client.route(self._key, self._max_connections)
        self.pipe: Caller | None
        if self._of is not None and self.route is None:  # a shard on one node
            self._owns_pipe, self.pipe = False, self._of.pipe
        else:
            self._owns_pipe, self.pipe = True, client.pipe(self._max_connections, self.route)
        self._subscriber = client.subscriber(self._max_connections, self.route)
        self._command = client.command(self.pipe)

    @property
    def redis(self) -> Any:
        """The ``redis.asyncio`` client (before the first call: of the node named)."""
        return self.client.redis

    @property
    def sharded(self) -> bool:
        """Whether the queue's channels are shard channels (SPUBLISH, SSUBSCRIBE)."""
        return self.route is not None

    @property
    def subscribes(self) -> bool:
        """Whether the queue has a connection to spare for subscriptions (else: poll)."""
        return self._subscriber is not None

    async def ready(self) -> None:
        """Ask the node named whether it is a cluster node, once (concurrent first calls
        share the question); a failure to ask is raised and asked again next time."""
        if self.pending:
            await self._settle()

    async def _ask(self) -> None:
        if self._of is not None:
            await self._of.ready()
            cluster = self._of.client if self._of.client is not self.client else None
        else:
            cluster = await detect_cluster(self.client, self._command)
        if cluster is not None:
            node, pipe = self.client, self.pipe if self._owns_pipe else None
            self._use(cluster)
            if pipe is not None:
                await pipe.aclose()
            if self._of is None:
                await close_client(node.redis)
        self.pending = False

    async def command(self, *args: Any) -> Any:
        """Send one server command (CONFIG GET, INFO) as ``Client.command`` says."""
        await self.ready()
        return await self._command(*args)

    async def pubsub(self, *, again: bool = False) -> Any:
        """A pub/sub object for the queue's subscriptions (see ``open_pubsub``)."""
        await self.ready()
        return await open_pubsub(self._subscriber, again=again)

    async def reader(self) -> Any:
        """A client for a blocking read of the queue's keys (the hand-off inbox's BLPOP),
        which holds a connection while it waits: on a cluster, one on the primary of the
        queue's slot (``ClusterRoute.reader``); elsewhere the client, if it has
        connections to spare for it (``Client.blocking``), else None."""
        await self.ready()
        if self.route is not None:
            return await self.route.reader()
        return self.client.blocking(self._max_connections)

    def lost(self) -> None:
        """A blocking read met MOVED or lost its connection: on a cluster, the next
        ``reader()`` loads the slot map first."""
        if self.route is not None:
            self.route.lost()

    async def aclose(self) -> None:
        """Close the pipe or route, and the client if the queue made it (a shard leaves
        the queue's pipe on one node, and the client, to the queue)."""
        for caller in (self.pipe if self._owns_pipe else None, self.route):
            if caller is not None:  # one object on a cluster: closes once
                await caller.aclose()
        if self.client.owned and self._of is None:
            await close_client(self.client.redis)
