"""What a Worker runs: a handler, an async function taking a Job."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable
from functools import partial

from ._job import Job

__all__ = ["Handler", "check_handler"]

Handler = Callable[[Job], Awaitable[object]]


def check_handler(handler: object) -> Handler:
    """``handler`` if a Worker can run it; ``TypeError`` naming it if not."""
    # a function, method, builtin (os.system), class or partial must be an async def; an
    # object with __call__ is taken on trust (it may return an awaitable)
    plain = inspect.isroutine(handler) or inspect.isclass(handler) or isinstance(handler, partial)
    if (
        handler is None
        or not callable(handler)
        or (plain and not inspect.iscoroutinefunction(handler))
    ):
        raise TypeError(f"handler must be an async function taking a Job, got {handler!r}")
    checked: Handler = handler
    return checked
