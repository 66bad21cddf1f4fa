"""The redis.asyncio client of a queue: the caller's, or one on a pool of the queue's own."""

from __future__ import annotations

from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis

__all__ = ["DEFAULT_MAX_CONNECTIONS", "client_for"]

DEFAULT_MAX_CONNECTIONS = 32


def client_for(
    *,
    redis_host: str | None,
    redis_port: int | None,
    redis_db: int | None,
    url: str | None,
    redis: Any | None,
    max_connections: int,
) -> tuple[Any, bool]:
    """Return (client, whether the queue owns it) for one way of reaching Redis.

    Raises ``ValueError`` when more than one way is given, or a bad URL.
    """
    hosts = (("redis_host", redis_host), ("redis_port", redis_port), ("redis_db", redis_db))
    given = [n for n, v in (("url", url), ("redis", redis), *hosts) if v is not None]
    if (url is not None or redis is not None) and len(given) > 1:
        raise ValueError(f"give one way to reach Redis, got {', '.join(given)}")
    if redis is not None:
        return redis, False
    pool_kwargs: dict[str, Any] = {
        "max_connections": max_connections,
        # wait for a free connection as long as it takes: every wait is cancellable
        "timeout": None,
        # no socket timeout: redis-py's send timeout can swallow a cancellation on Python
        # 3.11; TCP keepalive and health checks find dead connections instead
        "socket_timeout": None,
        "socket_connect_timeout": 5.0,
        "socket_keepalive": True,
        "health_check_interval": 30,
    }
    if url is not None:
        if not isinstance(url, str) or not url:
            raise ValueError(f"url must be a redis:// or rediss:// URL, got {url!r}")
        pool = BlockingConnectionPool.from_url(url, **pool_kwargs)
    else:
        pool = BlockingConnectionPool(
            host=redis_host if redis_host is not None else "localhost",
            port=redis_port if redis_port is not None else 6379,
            db=redis_db if redis_db is not None else 0,
            **pool_kwargs,
        )
    return Redis(connection_pool=pool), True
