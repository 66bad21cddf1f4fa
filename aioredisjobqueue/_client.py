"""The redis.asyncio client of a queue: the caller's, or one the queue makes for one Redis
node, a Redis Cluster, or a primary found through Sentinel.

URLs: ``redis://`` and ``rediss://`` name one node, or any node of a cluster (with
``cluster=True``, or found at the first call: see ``detect_cluster``);
``redis+cluster://host:port[,host:port…]`` a cluster;
``redis+sentinel://[user:password@]host:port[,host:port…]/SERVICE[/DB]`` the primary of
``SERVICE`` as the sentinels name it (``rediss+…`` for TLS to the data nodes).
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote, urlsplit

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.cluster import RedisCluster
from redis.exceptions import ResponseError

from ._pipe import Pipe
from ._route import Caller, ClusterRoute
from ._sentinel import SentinelPool, sentinel_client

__all__ = [
    "DEFAULT_MAX_CONNECTIONS",
    "Client",
    "client_for",
    "close_client",
    "detect_cluster",
    "open_pubsub",
]

DEFAULT_MAX_CONNECTIONS = 32

# Connection settings of every client the queue makes.
_CONNECTION: dict[str, Any] = {
    # no socket timeout: redis-py's send timeout can swallow a cancellation on Python
    # 3.11; TCP keepalive and health checks find dead connections instead
    "socket_timeout": None,
    "socket_connect_timeout": 5.0,
    "socket_keepalive": True,
    "health_check_interval": 30,
}


@dataclass(frozen=True, slots=True)
class Client:
    """A queue's client: ``kind`` is ``"node"``, ``"cluster"`` or ``"sentinel"``."""

    redis: Any
    owned: bool
    kind: str
    # for a node named by URL or host and port: the cluster client it makes if the node
    # turns out to be a cluster node (see ``detect_cluster``)
    cluster: Callable[[], Client] | None = None

    def spare(self, max_connections: int) -> int:
        """How many connections its pool has (on a cluster: per node, each with its own)."""
        if self.kind == "cluster":
            return max_connections
        return int(getattr(getattr(self.redis, "connection_pool", None), "max_connections", 0))

    def route(self, key: str, max_connections: int) -> ClusterRoute | None:
        """On a cluster, the route to the primary of the slot of ``key`` (a key of the
        queue's): its pipe if the queue made the client, its shard-channel subscriptions
        in any case. None elsewhere."""
        if self.kind != "cluster":
            return None
        return ClusterRoute(self.redis, key, max_connections)

    def pipe(self, max_connections: int, route: ClusterRoute | None = None) -> Caller | None:
        """The queue's pipelined connection: on a pool of the queue's own, and never the
        pool's only connection, which calls on ``queue.redis`` need too. On a cluster, the
        ``route`` to the slot's primary, if the queue made the cluster client."""
        if not self.owned or self.spare(max_connections) < 2:
            return None
        if self.kind == "cluster":
            return route
        return Pipe(self.redis.connection_pool)

    def subscriber(self, max_connections: int, route: ClusterRoute | None = None) -> Any:
        """The client for pub/sub subscriptions, which hold a connection each: only where
        one is left for other calls (else None: poll). On a cluster, the ``route``: the
        queue's channels are shard channels, subscribed to on the slot's primary."""
        if self.spare(max_connections) < 3:
            return None
        return self.redis if route is None else route

    def blocking(self, max_connections: int) -> Any:
        """The client for the blocking reads of the hand-off inbox, which hold a connection
        each while they wait: only where the pipe, a subscription and one more connection
        are left for other calls (else None: no hand-off, consumers poll)."""
        return self.redis if self.spare(max_connections) >= 4 else None

    def command(self, pipe: Caller | None) -> Callable[..., Awaitable[Any]]:
        """Sends one server command (CONFIG GET, INFO): on the pipe if there is one; on a
        cluster, to every primary, which all hold queues."""
        if self.kind == "cluster":
            return functools.partial(_on_primaries, self.redis)
        return self.redis.execute_command if pipe is None else pipe.execute


async def _on_primaries(cluster: RedisCluster, *args: Any) -> Any:
    """Send a command to every primary of ``cluster``: {node name: reply}."""
    await cluster.initialize()  # the primaries are known once the slot map is loaded
    return await cluster.execute_command(*args, target_nodes=cluster.get_primaries())


def _kind_of(redis: Any) -> str:
    if isinstance(redis, RedisCluster):
        return "cluster"
    pool = getattr(redis, "connection_pool", None)
    return "sentinel" if hasattr(pool, "service_name") else "node"


def _hosts(netloc: str, url: str) -> tuple[str | None, str | None, list[tuple[str, int]]]:
    """(user, password, [(host, port), …]) of a URL's ``user:password@h:p,h:p`` part."""
    auth, _, hostlist = netloc.rpartition("@")
    user, _, password = auth.partition(":") if auth else ("", "", "")
    hosts: list[tuple[str, int]] = []
    for item in hostlist.split(","):
        host, sep, port = item.rpartition(":")
        if not sep or not host or not port.isdigit():
            raise ValueError(f"url must name host:port pairs, got {url!r}")
        hosts.append((host.strip("[]"), int(port)))
    return unquote(user) or None, unquote(password) or None, hosts


def _cluster(url: str, max_connections: int) -> RedisCluster:
    scheme, netloc = url.split("://", 1)[0], urlsplit(url).netloc
    if scheme.endswith("+cluster"):
        user, password, hosts = _hosts(netloc, url)
        from redis.asyncio.cluster import ClusterNode

        return RedisCluster(
            startup_nodes=[ClusterNode(h, p) for h, p in hosts],
            username=user,
            password=password,
            ssl=scheme.startswith("rediss"),
            max_connections=max_connections,
            **_CONNECTION,
        )
    return RedisCluster.from_url(url, max_connections=max_connections, **_CONNECTION)


def _sentinel(url: str, max_connections: int) -> Redis:
    parts = urlsplit(url)
    user, password, hosts = _hosts(parts.netloc, url)
    path = [p for p in parts.path.split("/") if p]
    if not path or len(path) > 2 or (len(path) == 2 and not path[1].isdigit()):
        raise ValueError(
            f"url must be redis+sentinel://host:port[,host:port]/SERVICE[/DB], got {url!r}"
        )
    return sentinel_client(
        hosts,
        unquote(path[0]),
        db=int(path[1]) if len(path) == 2 else 0,
        username=user,
        password=password,
        ssl=parts.scheme.startswith("rediss"),
        max_connections=max_connections,
        connection=_CONNECTION,
    )


def client_for(
    *,
    redis_host: str | None,
    redis_port: int | None,
    redis_db: int | None,
    url: str | None,
    redis: Any | None,
    max_connections: int,
    cluster: bool = False,
    sentinels: Sequence[tuple[str, int]] | None = None,
    service_name: str | None = None,
) -> Client:
    """The client for one way of reaching Redis.

    Raises ``ValueError`` when more than one way is given, or a bad URL.
    """
    hosts = (("redis_host", redis_host), ("redis_port", redis_port), ("redis_db", redis_db))
    ways = (("url", url), ("redis", redis), ("sentinels", sentinels), *hosts)
    given = [n for n, v in ways if v is not None]
    if (url is not None or redis is not None or sentinels is not None) and len(given) > 1:
        raise ValueError(f"give one way to reach Redis, got {', '.join(given)}")
    if (sentinels is None) != (service_name is None):
        raise ValueError(
            f"sentinels and service_name go together, got sentinels={sentinels!r}, "
            f"service_name={service_name!r}"
        )
    if redis is not None:
        return Client(redis, False, _kind_of(redis))
    if sentinels is not None:
        assert service_name is not None
        hosts_given = [(str(h), int(p)) for h, p in sentinels]
        client = sentinel_client(
            hosts_given,
            service_name,
            db=redis_db or 0,
            max_connections=max_connections,
            connection=_CONNECTION,
        )
        return Client(client, True, "sentinel")
    if url is not None:
        if not isinstance(url, str) or "://" not in url:
            raise ValueError(f"url must be a redis://, rediss:// or redis+… URL, got {url!r}")
        scheme = url.split("://", 1)[0].lower()
        if scheme in ("redis+sentinel", "rediss+sentinel"):
            return Client(_sentinel(url, max_connections), True, "sentinel")
        if cluster or scheme in ("redis+cluster", "rediss+cluster"):
            return Client(_cluster(url, max_connections), True, "cluster")
        if scheme not in ("redis", "rediss", "unix"):
            raise ValueError(f"url must be a redis://, rediss:// or redis+… URL, got {url!r}")
        pool = BlockingConnectionPool.from_url(
            url, max_connections=max_connections, timeout=None, **_CONNECTION
        )
        cluster_of: Callable[[], Client] | None = None
        if scheme != "unix":
            cluster_of = functools.partial(_cluster_client, url, max_connections)
        return Client(Redis(connection_pool=pool), True, "node", cluster_of)
    if cluster:
        nodes = RedisCluster(
            host=redis_host or "localhost",
            port=redis_port or 6379,
            max_connections=max_connections,
            **_CONNECTION,
        )
        return Client(nodes, True, "cluster")
    host = redis_host if redis_host is not None else "localhost"
    port = redis_port if redis_port is not None else 6379
    pool = BlockingConnectionPool(
        host=host,
        port=port,
        db=redis_db if redis_db is not None else 0,
        max_connections=max_connections,
        # wait for a free connection as long as it takes: every wait is cancellable
        timeout=None,
        **_CONNECTION,
    )
    cluster_of = functools.partial(_cluster_client, f"redis://{host}:{port}", max_connections)
    return Client(Redis(connection_pool=pool), True, "node", cluster_of)


def _cluster_client(url: str, max_connections: int) -> Client:
    return Client(_cluster(url, max_connections), True, "cluster")


async def detect_cluster(client: Client, command: Callable[..., Awaitable[Any]]) -> Client | None:
    """The cluster client of a node that may be a cluster node (``client.cluster``), if
    ``INFO cluster`` (sent by ``command``) says ``cluster_enabled:1``; else None. A server
    that refuses INFO is taken for one node; a connection error is raised."""
    if client.cluster is None:
        return None
    try:
        reply = await command("INFO", "cluster")
    except ResponseError:
        return None
    if isinstance(reply, Mapping):  # redis-py's parsed INFO
        enabled = str(reply.get("cluster_enabled")) == "1"
    else:
        text = reply.decode() if isinstance(reply, bytes) else str(reply)
        enabled = "cluster_enabled:1" in text.split()
    return client.cluster() if enabled else None


async def close_client(redis: Any) -> None:
    """Close a client the queue (or the command line) made, with its pool and watch."""
    await redis.aclose()
    pool: Any = getattr(redis, "connection_pool", None)
    if isinstance(pool, SentinelPool):
        await pool.aclose()  # its watch too
    elif pool is not None:
        await pool.disconnect()


async def open_pubsub(redis: Any, *, again: bool = False, **kwargs: Any) -> Any:
    """A pub/sub object of ``redis``; on a cluster client, once its slot map is loaded
    (its pub/sub routes by that map, which the client loads at its first command); on a
    queue's cluster route, on the primary of the queue's slot (``again``: after the last
    subscription was lost, so the slot map is loaded again)."""
    if inspect.iscoroutinefunction(redis.pubsub):  # a cluster route's, a Deployment's
        return await redis.pubsub(again=again)
    if isinstance(redis, RedisCluster):
        await redis.initialize()
    return redis.pubsub(**kwargs)
