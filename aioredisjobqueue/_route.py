"""ClusterRoute: a queue's calls on a Redis Cluster, pipelined to the primary of its slot.

Every key of a queue has the queue's hash tag, so all of them live in one slot, on one
primary. The route sends the queue's script calls on one ``Pipe`` to that primary, so that
concurrent calls share round trips as on one node, and follows the slot when it moves:

- ``MOVED`` (the command did not run; the reply names the slot's owner now): the route
  sends it again there, at most ``MAX_REDIRECTS`` times in a row, then raises
  ``TRYAGAIN``, which ``consume()`` and the Worker wait out like a dropped connection.
- ``ASK`` (the slot is migrating and the keys went ahead): ``ASKING`` and the command go
  to the named node in one write, once.
- A dropped connection is raised as it is (whether the command ran is unknown); the next
  call loads the slot map again first, so that the replica the cluster promotes in place
  of a killed primary is found.

Each node gets a connection pool of the route's own, with the cluster client's settings:
one connection for its pipe, the others for replicated puts (a script and ``WAIT`` in one
round trip, kept off the pipe) and the queue's sharded pub/sub subscriptions.
"""

from __future__ import annotations

import asyncio
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.client import PubSub
from redis.asyncio.cluster import RedisCluster
from redis.asyncio.connection import Connection
from redis.backoff import NoBackoff
from redis.client import NEVER_DECODE
from redis.exceptions import (
    AskError,
    ClusterDownError,
    MovedError,
    RedisClusterException,
    TryAgainError,
)
from redis.retry import Retry

from ._pipe import Orphan, Pipe
from ._transient import CONNECTION_ERRORS

__all__ = ["MAX_REDIRECTS", "Caller", "ClusterRoute"]

# How many MOVED replies in a row a call follows before it raises TRYAGAIN.
MAX_REDIRECTS = 5

Address = tuple[str, int]


class ClusterRoute:
    """The calls of the queue whose keys hash like ``key``, on a ``RedisCluster``."""

    sharded = True  # its pub/sub channels are shard channels (SPUBLISH, SSUBSCRIBE)

    def __init__(self, cluster: RedisCluster, key: str, max_connections: int) -> None:
        self._cluster = cluster
        self._key = key
        self._max_connections = max_connections
        self._owner: Address | None = None  # the primary of the slot, as last known
        self._stale = True  # load the slot map before the next call
        self._load_lock = asyncio.Lock()
        self._pools: dict[Address, BlockingConnectionPool] = {}
        self._pipes: dict[Address, Pipe] = {}

    async def owner(self) -> Address:
        """The primary that owns the slot: from the slot map, loaded again after a call
        lost its connection (concurrent callers share one load)."""
        if self._stale or self._owner is None:
            async with self._load_lock:
                if self._stale or self._owner is None:
                    self._owner, self._stale = await self._load(), False
        return self._owner

    async def _load(self) -> Address:
        """The slot's primary as the slot map, loaded now, says; CLUSTERDOWN (transient:
        loops wait it out) if no node answers or none serves the slot."""
        try:
            if self._owner is None:
                await self._cluster.initialize()  # a no-op if the client loaded it
            else:
                await self._cluster.nodes_manager.initialize()
            node = self._cluster.get_node_from_key(self._key)
        except RedisClusterException as exc:
            node, why = None, str(exc)
        else:
            why = "no primary serves it"
        if node is None:
            raise ClusterDownError(f"the slot of {self._key!r}: {why}", status_code="CLUSTERDOWN")
        return node.host, int(node.port)

    def lost(self) -> None:
        """A connection to the owner dropped: load the slot map before the next call."""
        self._stale = True

    def _moved(self, exc: MovedError) -> None:
        if exc.host:
            self._owner = (exc.host, exc.port)
        else:  # the node knows no endpoint to name: ask the map
            self._stale = True

    def _pool(self, address: Address) -> BlockingConnectionPool:
        pool = self._pools.get(address)
        if pool is None:
            settings: dict[str, Any] = dict(self._cluster.get_connection_kwargs())
            for cluster_only in ("host", "port", "max_connections", "response_callbacks"):
                settings.pop(cluster_only, None)
            settings.setdefault("connection_class", Connection)
            # the route, not redis-py, decides where to go after a failure
            settings["retry"] = Retry(NoBackoff(), 0)
            pool = BlockingConnectionPool(
                host=address[0],
                port=address[1],
                max_connections=self._max_connections,
                timeout=None,
                **settings,
            )
            self._pools[address] = pool
        return pool

    def _pipe(self, address: Address) -> Pipe:
        pipe = self._pipes.get(address)
        if pipe is None:
            pipe = self._pipes[address] = Pipe(self._pool(address))
        return pipe

    async def execute(self, *args: Any, orphan: Orphan | None = None) -> Any:
        """Send one command on the owner's pipe, following MOVED and ASK (see the module);
        as ``Pipe.execute`` otherwise."""
        for _ in range(MAX_REDIRECTS):
            address = await self.owner()
            try:
                return await self._pipe(address).execute(*args, orphan=orphan)
            except MovedError as exc:
                self._moved(exc)
            except AskError as exc:
                address = exc.node_addr
                return await self._pipe(address).execute(*args, orphan=orphan, asking=True)
            except CONNECTION_ERRORS:
                if address == self._owner:
                    self.lost()
                raise
        raise self._still_moving()

    async def then_wait(
        self, command: tuple[Any, ...], replicas: int, timeout_ms: int
    ) -> tuple[Any, Any]:
        """``command`` then ``WAIT replicas timeout_ms`` on one connection to the owner, in
        one round trip, off the pipe: (its reply, WAIT's reply), errors as replies.

        A MOVED reply (nothing ran) is followed as ``execute`` does, ASK once."""
        for _ in range(MAX_REDIRECTS):
            address = await self.owner()
            try:
                reply, acked = await _then_wait(self._pool(address), command, replicas, timeout_ms)
            except CONNECTION_ERRORS:
                self.lost()
                raise
            if isinstance(reply, MovedError):
                self._moved(reply)
                continue
            if isinstance(reply, AskError):
                pool = self._pool(reply.node_addr)
                return await _then_wait(pool, command, replicas, timeout_ms, asking=True)
            return reply, acked
        raise self._still_moving()

    def _still_moving(self) -> TryAgainError:
        return TryAgainError(
            f"the slot of {self._key!r} moved {MAX_REDIRECTS} times in a row, last to "
            f"{self._owner}: try again",
            status_code="TRYAGAIN",
        )

    async def pubsub(self, *, again: bool = False) -> PubSub:
        """A pub/sub object on the owner, for ``SSUBSCRIBE`` to the queue's shard channels;
        ``again`` (after a subscription was lost) loads the slot map first."""
        if again:
            self.lost()
        return Redis(connection_pool=self._pool(await self.owner())).pubsub()

    async def reader(self) -> Redis:
        """A client on the owner's pool, for a blocking read (the hand-off inbox's BLPOP),
        which holds a connection of its own while it waits. A MOVED reply to it, or a
        connection lost, is told with ``lost()``: the next one loads the slot map."""
        return Redis(connection_pool=self._pool(await self.owner()))

    async def aclose(self) -> None:
        """Close the pipes and the pools; a second call does nothing."""
        pipes, pools = list(self._pipes.values()), list(self._pools.values())
        self._pipes.clear()
        self._pools.clear()
        for pipe in pipes:
            await pipe.aclose()
        for pool in pools:
            await pool.disconnect()


async def _then_wait(
    pool: BlockingConnectionPool,
    command: tuple[Any, ...],
    replicas: int,
    timeout_ms: int,
    *,
    asking: bool = False,
) -> tuple[Any, Any]:
    async with Redis(connection_pool=pool).pipeline(transaction=False) as pipeline:
        if asking:
            pipeline.execute_command("ASKING")
        pipeline.execute_command(*command, **{NEVER_DECODE: True})
        pipeline.execute_command("WAIT", replicas, timeout_ms)
        replies = await pipeline.execute(raise_on_error=False)
    return replies[-2], replies[-1]


# What a queue's scripts are sent on: its pipe to one node, or its route on a cluster.
Caller = Pipe | ClusterRoute
