"""Waiting for results: one subscription per queue object to the queue's done channel.

The scripts publish on the done channel the ids of jobs that leave the running (completed,
dead-lettered, cancelled). ``result()`` waiters register the id they wait for, and look
again (one script call) only when that id is announced, or after the subscription was
(re)established, since an announcement may have been missed while it was down. A client
that cannot subscribe (no pub/sub, an ACL that denies the channel) makes waiters look
with backoff instead.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any

from . import _args, _codec
from ._backoff import backoff
from ._errors import DeadJobError, JobNotFoundError
from ._subscription import listen
from ._tasks import stop

if TYPE_CHECKING:
    from ._scripts import Scripts

__all__ = ["DEFAULT_RESULT_TTL", "NO_RESULT", "DoneChannel", "Watch"]

logger = logging.getLogger("aioredisjobqueue")

DEFAULT_RESULT_TTL = 86_400.0  # seconds a result is kept: one day, as arq keeps them

_ID_BYTES = 12


def ttl_ms(seconds: object, name: str = "result_ttl") -> int:
    """How long to keep a result: positive seconds, as whole ms (at least 1)."""
    return max(1, round(_args.positive_seconds(seconds, name) * 1000))


class _NoResult:
    """The default of ``complete(result=...)``: complete without keeping a result."""

    _instance: _NoResult | None = None

    def __new__(cls) -> _NoResult:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "<no result>"


NO_RESULT: Any = _NoResult()


class Watch:
    """One waiter's view of the announcements of one job id."""

    def __init__(self, done_channel: DoneChannel) -> None:
        self._done_channel = done_channel
        self._event = asyncio.Event()
        self._polls = 0

    def announce(self) -> None:
        self._event.set()

    def forget(self) -> None:
        self._event.clear()

    async def wait(self) -> None:
        """Wait until the job may have changed: announced, or the subscription came back.

        Without a subscription, wait with backoff (50 ms doubling to 1 s) instead.
        """
        if self._done_channel.subscribing:
            await self._event.wait()
        else:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(backoff(self._polls, base=0.05, cap=1.0, floor=0.05)):
                    await self._event.wait()
            self._polls += 1
        self._event.clear()


class DoneChannel:
    """The done channel of one queue object, shared by its ``result()`` waiters.

    The subscription runs while at least one waiter watches; its task belongs to this
    object and is cancelled when the last waiter leaves, and awaited by ``aclose()``.
    """

    def __init__(self, client: Any, channel: str) -> None:
        self._client = client
        self._channel = channel
        self._watches: dict[bytes, set[Watch]] = {}
        self._task: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self._subscribed = asyncio.Event()
        self.subscribing = hasattr(client, "pubsub")

    @contextlib.asynccontextmanager
    async def watch(self, job_id: str, deadline: float | None = None) -> AsyncIterator[Watch]:
        """Watch the announcements of ``job_id`` (hex); look at the job only after entering,
        so that nothing announced meanwhile is missed.

        Waits for the subscription until ``deadline`` (event loop time) at most; a look made
        before it is up is followed by another once it is (every watch is told then).
        """
        key = bytes.fromhex(job_id)
        watch = Watch(self)
        self._watches.setdefault(key, set()).add(watch)
        if self._task is None and self.subscribing:
            # each subscription task has its own event: one that is still stopping never
            # clears the event of the one that follows it
            self._subscribed = asyncio.Event()
            self._task = asyncio.get_running_loop().create_task(self._listen(self._subscribed))
        try:
            if self.subscribing:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout_at(deadline):
                        await self._subscribed.wait()
                        watch.forget()  # what was announced so far, the first look sees
            yield watch
        finally:
            watchers = self._watches[key]
            watchers.discard(watch)
            if not watchers:
                del self._watches[key]
            if not self._watches and self._task is not None:
                task, self._task = self._task, None
                task.cancel()
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)

    async def wait_result(
        self, scripts: Scripts, queue_name: str, job_id: str, seconds: float | None
    ) -> Any:
        """Wait for the result of ``job_id`` (see ``RedisJobQueue.result``): look, and look
        again each time the job is announced, until ``seconds`` have passed (None: no
        limit). It looks at least once, so ``seconds=0`` returns a result that is there."""
        loop = asyncio.get_running_loop()
        deadline = None if seconds is None else loop.time() + seconds
        async with self.watch(job_id, deadline) as watch:
            while True:
                reply = await scripts.result(job_id)
                if reply is None:
                    raise JobNotFoundError(queue_name=queue_name, job_id=job_id)
                kind = _text(reply[0])
                if kind == "done":  # "DELIVERIES:COMPLETED_AT:JSON"
                    return _codec.decode(_text(reply[1]).split(":", 2)[2])
                if kind == "dead":
                    error = None if reply[1] is None else _text(reply[1])
                    raise DeadJobError(queue_name=queue_name, job_id=job_id, error=error)
                if deadline is not None and loop.time() >= deadline:
                    raise TimeoutError(f"no result of job {job_id} within {seconds:g} s")
                async with asyncio.timeout_at(deadline):
                    await watch.wait()

    async def aclose(self) -> None:
        """Stop the subscription and wait until it has stopped."""
        task, self._task = self._task, None
        if task is not None:
            self._stopping.add(task)
        await stop(self._stopping)

    def _announce_all(self) -> None:
        for watchers in self._watches.values():
            for watch in watchers:
                watch.announce()

    def _announce(self, data: bytes | str) -> None:
        raw = data.encode("latin-1") if isinstance(data, str) else data
        for start in range(0, len(raw), _ID_BYTES):
            for watch in self._watches.get(raw[start : start + _ID_BYTES], ()):
                watch.announce()

    async def _listen(self, subscribed: asyncio.Event) -> None:
        def up() -> None:  # from now on nothing is missed: everyone looks once more
            subscribed.set()
            self._announce_all()

        def refused() -> None:  # e.g. an ACL user without access: waiters poll instead
            self.subscribing = False
            up()

        await listen(
            self._client,
            self._channel,
            "result announcements",
            on_subscribed=up,
            on_message=self._announce,
            on_lost=subscribed.clear,
            on_refused=refused,
        )


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value
