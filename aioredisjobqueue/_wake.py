"""Wake-ups: one shared subscription per queue object to the queue's wake channel.

The scripts PUBLISH on the wake channel (by ``pcall``: a user whose ACL denies the channel
still puts jobs) whenever a job becomes due at once (put, release
with no delay, requeue). Idle ``consume()`` loops of one queue object wait on this
subscription instead of only sleeping, so a new job is picked up within a round trip or
two. A lost message (no subscription yet, a dropped connection) only delays a job until
the next poll: the loops keep polling with backoff, so nothing depends on a message.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ._subscription import listen
from ._tasks import stop

__all__ = ["Waker"]

logger = logging.getLogger("aioredisjobqueue")


class Waker:
    """Signals waiting consumers of one queue object when its wake channel speaks.

    The subscription runs while at least one consumer is registered (``acquire``/
    ``release``); its task belongs to the Waker and is cancelled and awaited when the last
    consumer leaves or the queue closes.
    """

    def __init__(self, client: Any, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._users = 0
        self._task: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self._event = asyncio.Event()

    def signal(self) -> asyncio.Event:
        """The event the next wake-up sets. Take it *before* looking at the queue, so a
        wake-up that comes while looking is not missed."""
        return self._event

    async def wait(self, signal: asyncio.Event, seconds: float) -> None:
        """Wait until ``signal`` is set or ``seconds`` pass."""
        if signal.is_set():
            return
        try:
            async with asyncio.timeout(seconds):
                await signal.wait()
        except TimeoutError:
            pass

    def acquire(self) -> None:
        """Register a consumer; starts the subscription for the first one."""
        self._users += 1
        if self._task is None and hasattr(self._client, "pubsub"):
            self._task = asyncio.get_running_loop().create_task(self._listen())

    def release(self) -> None:
        """Unregister a consumer; the last one out stops the subscription.

        It does not wait for the subscription to end, so a consumer that is cancelled stops
        at once; ``aclose()`` waits for it.
        """
        self._users -= 1
        if self._users == 0 and self._task is not None:
            task, self._task = self._task, None
            task.cancel()
            self._stopping.add(task)
            task.add_done_callback(self._stopping.discard)

    async def aclose(self) -> None:
        """Stop the subscription and wait until it has stopped."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping.add(task)
        await stop(self._stopping)

    def _wake(self) -> None:
        event, self._event = self._event, asyncio.Event()
        event.set()

    async def _listen(self) -> None:
        # on subscribing too: jobs may have become due while nobody listened
        await listen(
            self._client,
            self._channel,
            "wake-ups",
            on_subscribed=self._wake,
            on_message=lambda _: self._wake(),
        )
