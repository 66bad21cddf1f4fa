"""Wake-ups: one shared subscription per queue object to the queue's wake channel.

The scripts PUBLISH on the wake channel (by ``pcall``: a user whose ACL denies the channel
still puts jobs) whenever a job becomes due at once and was not handed off to an idle
consumer (``_inbox``): a put that found no waiter, a release with no delay, a requeue.
Idle consumers of one queue object wait on this subscription (and on their inbox) instead
of only sleeping, so such a job is picked up within a round trip or two. A lost message
(no subscription yet, a dropped connection) only delays a job until the next poll (the
inbox's read, or the loops' own backoff), so nothing depends on a message. Each consumer
waits on an event of its own, which a wake-up sets for all of them and a hand-off for it.
"""

from __future__ import annotations

import asyncio
import logging
from typing import Any

from ._subscription import listen
from ._tasks import stop

__all__ = ["Waker", "wait_signal"]

logger = logging.getLogger("aioredisjobqueue")


async def wait_signal(signal: asyncio.Event, seconds: float) -> None:
    """Wait until ``signal`` is set or ``seconds`` pass."""
    if signal.is_set():
        return
    try:
        async with asyncio.timeout(seconds):
            await signal.wait()
    except TimeoutError:
        pass


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
        self._pending: set[asyncio.Event] = set()

    def signal(self, replacing: asyncio.Event | None = None) -> asyncio.Event:
        """A new event that the next wake-up sets, for one consumer (``replacing``: its
        previous one, which it waits on no more). Take it *before* looking at the queue,
        so a wake-up that comes while looking is not missed. The consumer may set it
        itself (a job was handed off to it)."""
        if replacing is not None:
            self._pending.discard(replacing)
        event = asyncio.Event()
        self._pending.add(event)
        return event

    async def wait(self, signal: asyncio.Event, seconds: float) -> None:
        """Wait until ``signal`` is set or ``seconds`` pass."""
        await wait_signal(signal, seconds)

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
        pending, self._pending = self._pending, set()
        for event in pending:
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
