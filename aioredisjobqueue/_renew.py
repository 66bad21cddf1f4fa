"""Lock renewal: one task extends the locks of every job a Worker runs."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable, Collection

import anyio

from ._errors import LockLostError
from ._logfields import job_fields
from ._running import Running
from ._transient import CAUGHT, is_transient

__all__ = ["renew_locks"]

logger = logging.getLogger("aioredisjobqueue")


async def renew_locks(running: Callable[[], Collection[Running]], lock_ms: int) -> None:
    """Extend the locks of the jobs ``running()`` returns, each once a third of ``lock_ms``
    has passed since its lock was last set, until cancelled.

    It wakes every sixth of ``lock_ms``, so a lock is renewed at the latest half-way
    through, and a renewal that failed because Redis was unreachable is tried again at the
    next wake. A job whose lock is lost (taken by another consumer, or cancelled) has its
    handler cancelled.
    """
    lock_s = lock_ms / 1000
    while True:
        await anyio.sleep(lock_s / 6)
        now = time.monotonic()
        due = [r for r in running() if not r.finished and r.lock_until - now <= lock_s * 2 / 3]
        if due:
            async with anyio.create_task_group() as renewals:
                for one in due:
                    renewals.start_soon(_renew_one, one, lock_s)


async def _renew_one(running: Running, lock_s: float) -> None:
    asked = time.monotonic()
    try:
        await running.link.extend(running.job)
    except LockLostError:
        if not running.finished:
            running.lock_lost = True
            running.cancel_handler()
        return
    except CAUGHT as exc:
        if not is_transient(exc):
            raise
        if not running.renewal_failed:
            logger.warning(
                "job %s of queue %r: could not renew its lock, retrying: %r",
                running.job.id,
                running.link.name,
                exc,
                extra=job_fields(running.job, error=exc),
            )
        running.renewal_failed = True
        return
    running.lock_until = asked + lock_s
    running.renewal_failed = False
