"""One pub/sub subscription loop, for the wake-up channel and the done channel alike.

It subscribes, tells its owner when the subscription is up (from then on no message is
missed, so the owner looks once more at what it waits for) and hands over each message.
A dropped connection or a Redis restart is ridden out with backoff, and subscribing again
is told again (on a cluster, the channel is a shard channel of the queue's slot, and the
subscription follows the slot to its new primary after a failover); a channel the server
refuses (an ACL without access to it) ends the loop, and the owner falls back to polling.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import ResponseError

from ._backoff import backoff
from ._client import open_pubsub
from ._tasks import cancel_requested
from ._transient import CONNECTION_ERRORS

__all__ = ["listen"]

logger = logging.getLogger("aioredisjobqueue")

_LISTEN_TIMEOUT = 1.0  # seconds a read waits, so connection health checks still run


def _nothing() -> None:
    pass


async def listen(
    client: Any,
    channel: str,
    what: str,
    *,
    on_subscribed: Callable[[], None],
    on_message: Callable[[bytes | str], None],
    on_lost: Callable[[], None] = _nothing,
    on_refused: Callable[[], None] = _nothing,
) -> None:
    """Subscribe to ``channel`` on ``client`` until cancelled (``what`` names it in logs).

    ``on_subscribed`` runs each time the subscription is up, ``on_message`` with each
    message's data, ``on_lost`` when the connection dropped (the loop subscribes again),
    ``on_refused`` when the server refused the channel (the loop ends). None may block.
    """
    failures = 0
    while True:
        pubsub: Any = None
        try:
            pubsub = await open_pubsub(client, again=failures > 0)
            # on a cluster, shard channels: SSUBSCRIBE on the slot's primary (known once
            # the queue's first call settled what it runs on, which opening waits for)
            sharded = getattr(client, "sharded", False)
            await (pubsub.ssubscribe if sharded else pubsub.subscribe)(channel)
            while not cancel_requested():
                message = await pubsub.get_message(timeout=_LISTEN_TIMEOUT)
                if message is None:
                    continue
                kind = message["type"][1:] if sharded else message["type"]
                if kind == "subscribe":
                    failures = 0
                    on_subscribed()
                elif kind == "message":
                    on_message(message["data"])
                elif kind == "unsubscribe":  # the server's: the slot left this node
                    raise RedisConnectionError(f"{channel} moved to another node")
            raise asyncio.CancelledError
        except CONNECTION_ERRORS as exc:
            logger.debug("%s subscription lost: %r", what, exc)
            on_lost()
        except ResponseError as exc:
            logger.info("no %s on %s, polling instead: %s", what, channel, exc)
            on_refused()
            return
        finally:
            if pubsub is not None:
                await pubsub.aclose()
        await asyncio.sleep(backoff(failures, base=0.05, cap=2.0, floor=0.05))
        failures += 1
