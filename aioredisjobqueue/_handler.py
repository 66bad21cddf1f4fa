"""What a Worker runs: a handler, an async function taking a Job."""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Sequence
from functools import partial

from ._events import EventHook
from ._job import Job

__all__ = ["Handler", "check_handler", "hooks_of"]

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


def hooks_of(on_event: object) -> tuple[EventHook, ...]:
    """The hooks ``on_event`` gives: none, one callable, or a list of them (in order)."""
    if callable(on_event):
        return (on_event,)
    if isinstance(on_event, Sequence) and all(callable(h) for h in on_event):
        return tuple(on_event)
    if on_event is not None:
        raise TypeError(f"on_event must be callable or a list of callables, got {on_event!r}")
    return ()
