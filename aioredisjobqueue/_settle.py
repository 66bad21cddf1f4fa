"""Settling: record in Redis what a handler's run did to its job, and say it.

A handler that returned completes its job (its result kept, if asked). One that raised is
retried after the backoff (or after ``RetryAfter.delay``) until its job's deliveries reach
``max_deliveries``; ``DoNotRetry`` and the last allowed delivery move the job to the dead
letters, and the traceback of its last error is logged.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

import anyio

from ._backoff import backoff
from ._errors import LockLostError
from ._events import JobEvent
from ._link import NO_RESULT
from ._logfields import job_fields
from ._outcome import DoNotRetry, RetryAfter
from ._running import Running
from ._transient import CAUGHT, is_transient

__all__ = ["completed", "describe", "lock_lost", "settle"]

logger = logging.getLogger("aioredisjobqueue")

T = TypeVar("T")

# How much of an error's message a job keeps (the queue bounds it too)
_MAX_ERROR = 2000


def describe(error: BaseException) -> str:
    """An error as a job keeps it: its type and message, bounded in size."""
    text = f"{type(error).__qualname__}: {error}" if str(error) else type(error).__qualname__
    return text if len(text) <= _MAX_ERROR else text[: _MAX_ERROR - 1] + "…"


def _cause(error: BaseException) -> BaseException:
    """The error a job keeps: for our signals raised ``from`` an error, that error."""
    if isinstance(error, DoNotRetry | RetryAfter) and error.__cause__ is not None:
        return error.__cause__
    return error


async def settle(
    running: Running, duration: float, error: BaseException | None, result: Any
) -> JobEvent | None:
    """Record the handler's outcome in Redis; the event to emit, or None if Redis could not
    be reached while the job's lock lasted (the job is due again when its lock expires)."""
    job, link = running.job, running.link
    try:
        if running.lock_lost:
            return lock_lost(running, duration, error)
        if running.stopped:
            await _retrying(running, lambda: link.give_back(job))
            return JobEvent("stopped", job, duration, error)
        if error is None:
            options = running.options
            kept = result if options.keep_result else NO_RESULT
            try:
                await _retrying(running, lambda: link.complete(job, kept, options.result_ttl))
                return JobEvent("complete", job, duration)
            except (TypeError, ValueError) as exc:  # a result JSON cannot hold
                error = exc
        return await _failed(running, duration, error)
    except LockLostError:
        return lock_lost(running, duration, error)
    except CAUGHT as exc:
        if not is_transient(exc):
            raise
        _could_not_record(running, duration, exc)
        return None


def _could_not_record(running: Running, duration: float, error: BaseException) -> None:
    logger.warning(
        "job %s of queue %r: could not record its outcome (%r); it is due again "
        "when its lock expires",
        running.job.id,
        running.link.name,
        error,
        extra=job_fields(running.job, duration=duration, error=error),
    )


def completed(running: Running, duration: float, outcome: bool | BaseException) -> JobEvent | None:
    """The event of a completion sent with a take (``QueueLink.complete_soon``): True the
    job was removed, False another consumer holds it; an error: Redis could not be
    reached while its lock lasted (logged; None)."""
    if outcome is True:
        return JobEvent("complete", running.job, duration)
    if outcome is False:
        return lock_lost(running, duration, None)
    _could_not_record(running, duration, outcome)
    return None


async def _failed(running: Running, duration: float, error: BaseException) -> JobEvent:
    job, link, options = running.job, running.link, running.options
    cause = _cause(error)
    text = describe(cause)
    last = options.max_deliveries is not None and job.deliveries >= options.max_deliveries
    if isinstance(error, DoNotRetry) or last:
        await _retrying(running, lambda: link.dead_letter(job, text))
        why = "it asked not to be retried" if isinstance(error, DoNotRetry) else "its last"
        _log_dead(running, cause, f"failed on delivery {job.deliveries} ({why})", duration)
        return JobEvent("dead", job, duration, error)
    if isinstance(error, RetryAfter):
        delay = error.delay
    else:
        delay = backoff(job.deliveries - 1, base=options.retry_delay, cap=options.retry_max_delay)
    if await _retrying(running, lambda: link.retry(job, delay, text)):
        logger.warning(
            "job %s of queue %r failed on delivery %d, retry in %.3g s: %s",
            job.id,
            link.name,
            job.deliveries,
            delay,
            text,
            exc_info=cause,
            extra=job_fields(job, duration=duration, error=text)
            | {"event": "retry", "retry_in": round(delay, 6)},
        )
        return JobEvent("retry", job, duration, error, delay)
    _log_dead(running, cause, f"failed on delivery {job.deliveries}, the queue's last", duration)
    return JobEvent("dead", job, duration, error)


def _log_dead(running: Running, cause: BaseException, why: str, duration: float) -> None:
    logger.error(
        "job %s of queue %r dead-lettered: %s: %s",
        running.job.id,
        running.link.name,
        why,
        describe(cause),
        exc_info=cause,
        extra=job_fields(running.job, duration=duration, error=describe(cause)) | {"event": "dead"},
    )


def lock_lost(running: Running, duration: float, error: BaseException | None) -> JobEvent:
    """Log that ``running`` lost its lock; the event that says so."""
    logger.warning(
        "job %s of queue %r: lock lost, another consumer holds the job now (or it was cancelled)",
        running.job.id,
        running.link.name,
        extra=job_fields(running.job, duration=duration, error=error) | {"event": "lock_lost"},
    )
    return JobEvent("lock_lost", running.job, duration, error)


async def _retrying(running: Running, call: Callable[[], Awaitable[T]]) -> T:
    """Run ``call``, retrying through Redis outages as long as the job's lock lasts."""
    attempt = 0
    while True:
        try:
            return await call()
        except CAUGHT as exc:
            if not is_transient(exc) or time.monotonic() >= running.lock_until:
                raise
            await anyio.sleep(backoff(attempt, base=0.05, cap=1.0))
            attempt += 1
