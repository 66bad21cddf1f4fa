"""Cancellation helpers for tasks that await redis-py calls.

redis-py wraps socket writes in ``asyncio.wait_for`` when a client has a socket timeout,
and on Python 3.11 ``wait_for`` can swallow a cancellation that arrives as the write
completes. The request stays counted on the task (``Task.cancelling()``), so loops look
there after each call, and stopping a task cancels it again until it ends.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Iterable

__all__ = ["cancel_requested", "raise_single", "stop"]


def cancel_requested() -> bool:
    """True when the current task has been asked to cancel, even if the request was lost."""
    task = asyncio.current_task()
    return task is not None and task.cancelling() > 0


async def stop(tasks: Iterable[asyncio.Task[None]], *, again_after: float = 0.1) -> None:
    """Cancel ``tasks`` and wait until every one has ended, cancelling again as needed."""
    pending = {t for t in tasks if not t.done()}
    while pending:
        for task in pending:
            task.cancel()
        _, pending = await asyncio.wait(pending, timeout=again_after)


async def raise_single(run: Awaitable[None]) -> None:
    """Await ``run``; one failure in it (a Redis error reply, say) is raised as itself, not
    as an exception group (nor as a group in a group, from a nested task group)."""
    try:
        await run
    except BaseExceptionGroup as group:
        failure: BaseException = group
        while isinstance(failure, BaseExceptionGroup) and len(failure.exceptions) == 1:
            failure = failure.exceptions[0]
        if failure is group or isinstance(failure, BaseExceptionGroup):
            raise
        raise failure from None
