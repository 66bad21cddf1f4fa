"""The worker lifespan: what a Worker opens before its first job and closes after its last,
and how handlers reach it; and the job a handler runs, for code it calls (``current_job``)."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

from ._job import Job

__all__ = ["CURRENT_JOB", "Lifespan", "current_job", "lifespan_state", "worker_state"]

T = TypeVar("T")

Lifespan = Callable[[], AbstractAsyncContextManager[Any]]

_NOTHING: Any = object()
STATE: ContextVar[Any] = ContextVar("aioredisjobqueue_worker_state", default=_NOTHING)
# the job whose handler runs in this task (set and reset by the Worker around each handler)
CURRENT_JOB: ContextVar[Job | None] = ContextVar("aioredisjobqueue_current_job", default=None)


def worker_state(kind: type[T]) -> T:
    """The value of the lifespan of the Worker running the current handler, as a ``kind``.

    Call it in a handler (or a task) or anything it calls::

        async def send(job: Job) -> None:
            http = worker_state(Resources).http

    Raises ``LookupError`` outside a Worker that has a lifespan, and ``TypeError`` if the
    lifespan's value is no ``kind``. ``kind`` lets ``mypy --strict`` see the value's type.
    """
    value = STATE.get()
    if value is _NOTHING:
        raise LookupError(
            "worker_state() is for handlers of a Worker given a lifespan "
            "(Worker(..., lifespan=...) or --lifespan module:function)"
        )
    if not isinstance(value, kind):
        raise TypeError(
            f"the worker lifespan's value is a {type(value).__qualname__}, "
            f"not a {kind.__qualname__}: {value!r}"
        )
    return value


@asynccontextmanager
async def lifespan_state(lifespan: Lifespan | None) -> AsyncIterator[None]:
    """Enter ``lifespan`` (if any), and make its value what ``worker_state()`` returns in
    this task and every task started inside."""
    if lifespan is None:
        yield
        return
    async with lifespan() as value:
        token = STATE.set(value)
        try:
            yield
        finally:
            STATE.reset(token)


def current_job() -> Job:
    """The job whose handler (or task) is running in this task: its id, deliveries, queue.

    For a typed task, which gets its arguments rather than the job. Raises ``LookupError``
    outside a Worker's handler.
    """
    job = CURRENT_JOB.get()
    if job is None:
        raise LookupError("current_job() is for code a Worker's handler runs")
    return job
