"""Waiting for a condition with a deadline, in place of fixed sleeps before asserts.

``eventually`` for async tests (the condition may be a function or an async function),
``eventually_sync`` for tests that watch a subprocess or a thread; ``hung`` makes a
redis-server hang for as long as a test needs, in place of a DEBUG SLEEP of fixed length;
``sigkill`` kills an asyncio subprocess without racing asyncio's reaping of it.
"""

from __future__ import annotations

import asyncio
import contextlib
import inspect
import os
import signal
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import pytest

from aioredisjobqueue._server_cluster import info

# bound on waits for work that normally takes well under a second or two
PATIENCE = 30.0


async def eventually(
    condition: Callable[[], Any],
    what: str = "the condition",
    *,
    within: float = PATIENCE,
    interval: float = 0.01,
    watch: Iterable[asyncio.Task[Any]] = (),
) -> Any:
    """Wait until ``condition()`` (or the value it awaits) is true, and return that value.

    Fails the test after ``within`` seconds, or as soon as one of the ``watch`` tasks ends.
    """
    watched = list(watch)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + within
    while True:
        result = condition()
        if inspect.isawaitable(result):
            result = await result
        if result:
            return result
        for task in watched:
            if task.done():
                exc = None if task.cancelled() else task.exception()
                pytest.fail(f"a task ended while waiting for {what}: {exc!r}")
        if loop.time() > deadline:
            pytest.fail(f"waited {within:g} s for {what}")
        await asyncio.sleep(interval)


def eventually_sync(
    condition: Callable[[], Any], what: str = "the condition", *, within: float = PATIENCE
) -> Any:
    """``eventually`` for code outside an event loop: polls ``condition()`` every 20 ms."""
    deadline = time.monotonic() + within
    while True:
        result = condition()
        if result:
            return result
        if time.monotonic() > deadline:
            pytest.fail(f"waited {within:g} s for {what}")
        time.sleep(0.02)


async def server_time_us(redis: Any) -> int:
    """The Redis server's clock, in µs (the clock of locks and due times)."""
    seconds, micros = await redis.time()
    return int(seconds) * 1_000_000 + int(micros)


async def server_clock_passes(redis: Any, us: int, *, within: float = PATIENCE) -> None:
    """Wait until the Redis server's clock is past ``us`` (e.g. a lock's expiry)."""

    async def past() -> bool:
        return await server_time_us(redis) > us

    await eventually(past, "the server's clock to pass a lock's expiry", within=within)


@contextlib.contextmanager
def hung(port: int) -> Iterator[None]:
    """The redis-server on ``port`` hangs (SIGSTOP) until the block ends (SIGCONT): it
    answers nothing, its connections stay open, and it goes on where it stopped."""
    pid = int(info(port, "info", "server")["process_id"])
    os.kill(pid, signal.SIGSTOP)
    try:
        yield
    finally:
        os.kill(pid, signal.SIGCONT)


def sigkill(process: asyncio.subprocess.Process) -> None:
    """SIGKILL ``process`` unless it ended, leaving its reaping to asyncio's child watcher.

    ``Process.kill()`` polls the child first: a poll that reaps a child already dead (killed
    before, its end not yet seen by the event loop) leaves the watcher's thread nothing to
    wait for, and the process then reports a returncode of 255, not -SIGKILL.
    """
    if process.returncode is None:
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
