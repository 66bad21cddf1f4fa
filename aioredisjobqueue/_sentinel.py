"""A client of the primary that Sentinel names, which never keeps writing to an old primary.

redis-py's Sentinel pool finds the primary when it connects and drops its idle connections
when the address changes, but a connection in use (the queue's pipelined one is always in
use) keeps talking to the old primary, which may go on accepting writes for seconds after
a failover, writes that are then lost. So the pool here listens to the sentinels'
``+switch-master`` messages and, when its service moves, drops every connection, busy ones
included: calls in flight on them fail with a connection error (their outcome unknown, as
for any dropped connection) and the next call connects to the new primary.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from typing import Any

from redis.asyncio import BlockingConnectionPool, Redis
from redis.asyncio.sentinel import Sentinel, SentinelConnectionPool
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import TimeoutError as RedisTimeoutError

from ._backoff import backoff
from ._tasks import stop

__all__ = ["SentinelPool", "sentinel_client"]

logger = logging.getLogger("aioredisjobqueue")

_CHANNEL = "+switch-master"


class SentinelPool(SentinelConnectionPool, BlockingConnectionPool):
    """A blocking pool of connections to the current primary of ``service_name``.

    It starts watching the sentinels with its first connection; ``aclose()`` stops the
    watch and disconnects everything.
    """

    def __init__(self, service_name: str, sentinel_manager: Sentinel, **kwargs: Any) -> None:
        super().__init__(service_name, sentinel_manager, **kwargs)  # type: ignore[no-untyped-call]
        self._watch: asyncio.Task[None] | None = None
        self.switches = 0  # how many times the primary moved while watched

    async def get_connection(self, *args: Any, **kwargs: Any) -> Any:
        if self._watch is None:
            self._watch = asyncio.get_running_loop().create_task(self._watch_sentinels())
        return await super().get_connection(*args, **kwargs)  # type: ignore[no-untyped-call]

    async def _watch_sentinels(self) -> None:
        failures = 0
        sentinels: list[Any] = list(self.sentinel_manager.sentinels)
        while True:
            sentinel = sentinels[failures % len(sentinels)]
            pubsub = sentinel.pubsub(ignore_subscribe_messages=True)
            try:
                await pubsub.subscribe(_CHANNEL)
                # the primary may have moved while nobody listened
                await self._moved_to(await self.sentinel_manager.discover_master(self.service_name))
                failures = 0
                while True:
                    message = await pubsub.get_message(timeout=1.0)
                    if message is None:
                        continue
                    data = message["data"]
                    fields = (data.decode() if isinstance(data, bytes) else str(data)).split()
                    if len(fields) == 5 and fields[0] == self.service_name:
                        await self._moved_to((fields[3], int(fields[4])))
            except (RedisConnectionError, RedisTimeoutError, OSError) as exc:
                logger.debug("sentinel watch of %r lost: %r", self.service_name, exc)
            finally:
                await pubsub.aclose()
            await asyncio.sleep(backoff(failures, base=0.05, cap=1.0, floor=0.05))
            failures += 1

    async def _moved_to(self, address: tuple[str, int]) -> None:
        if self.master_address is None or tuple(self.master_address) == tuple(address):
            self.master_address = address
            return
        logger.warning(
            "primary of %r moved from %s:%s to %s:%s: dropping every connection to the old one",
            self.service_name,
            *self.master_address,
            *address,
        )
        self.switches += 1
        self.master_address = address
        await self.disconnect(inuse_connections=True)

    async def aclose(self) -> None:
        """Stop watching, and close every connection and the sentinel clients."""
        if self._watch is not None:
            await stop([self._watch])
            self._watch = None
        await self.disconnect(inuse_connections=True)
        for sentinel in self.sentinel_manager.sentinels:
            await sentinel.aclose()


def sentinel_client(
    sentinels: Sequence[tuple[str, int]],
    service_name: str,
    *,
    db: int,
    max_connections: int,
    connection: dict[str, Any],
    username: str | None = None,
    password: str | None = None,
    ssl: bool = False,
) -> Redis:
    """A client of the primary of ``service_name`` as ``sentinels`` name it."""
    if not sentinels:
        raise ValueError(f"sentinels must name at least one (host, port), got {sentinels!r}")
    if not isinstance(service_name, str) or not service_name:
        raise ValueError(f"service_name must be a non-empty str, got {service_name!r}")
    manager = Sentinel(  # type: ignore[no-untyped-call]
        list(sentinels),
        sentinel_kwargs={k: v for k, v in connection.items() if k != "health_check_interval"},
    )
    data_kwargs: dict[str, Any] = {
        **connection,
        "db": db,
        "username": username,
        "password": password,
        "max_connections": max_connections,
        "timeout": None,
    }
    if ssl:
        data_kwargs["ssl"] = True
    client: Redis = manager.master_for(
        service_name, connection_pool_class=SentinelPool, **data_kwargs
    )
    return client
