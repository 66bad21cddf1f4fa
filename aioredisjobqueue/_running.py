"""What a Worker knows of each job it runs, and the options a job runs under."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol, TypeVar, runtime_checkable

from . import _args

if TYPE_CHECKING:
    from ._job import Job
    from ._link import QueueLink

__all__ = ["JobOptions", "OptionsByJob", "Running", "optional"]

N = TypeVar("N", int, float)


def optional(check: Callable[[object, str], N], value: object, name: str) -> N | None:
    """``check(value, name)``, or None for None: an optional argument, checked."""
    return None if value is None else check(value, name)


@dataclass(frozen=True, slots=True)
class JobOptions:
    """How the Worker runs one job: the Worker's own settings, unless its handler chooses.

    ``max_deliveries`` None: the Worker retries without a limit of its own (the queue's
    ``max_deliveries`` still applies). ``keep_result``: what the handler returns is kept as
    the job's result, for ``result_ttl`` seconds (None: the queue's default).
    """

    timeout: float | None
    max_deliveries: int | None
    retry_delay: float
    retry_max_delay: float
    keep_result: bool = False
    result_ttl: float | None = None

    @classmethod
    def checked(
        cls,
        *,
        timeout: object,
        max_deliveries: object,
        retry_delay: object,
        retry_max_delay: object,
        keep_result: bool,
        result_ttl: object,
    ) -> JobOptions:
        """Options from a user's arguments, each checked (errors name the argument)."""
        delay = _args.seconds(retry_delay, "retry_delay")
        max_delay = _args.seconds(retry_max_delay, "retry_max_delay")
        if max_delay < delay:
            raise ValueError(
                f"retry_max_delay must be >= retry_delay, got retry_max_delay="
                f"{retry_max_delay!r} < retry_delay={retry_delay!r}"
            )
        return cls(
            timeout=optional(_args.positive_seconds, timeout, "timeout"),
            max_deliveries=optional(_args.positive_int, max_deliveries, "max_deliveries"),
            retry_delay=delay,
            retry_max_delay=max_delay,
            keep_result=keep_result,
            result_ttl=optional(_args.positive_seconds, result_ttl, "result_ttl"),
        )


@runtime_checkable
class OptionsByJob(Protocol):
    """A handler that chooses the options of each job (the tasks layer does, per task)."""

    def job_options(self, job: Job, defaults: JobOptions) -> JobOptions:
        """The options ``job`` runs under; ``defaults`` are the Worker's."""
        ...


@dataclass(eq=False, slots=True)
class Running:
    """A job a Worker took: its queue, its options, its lock, the scope that stops its
    handler while it runs, and what stopped it."""

    job: Job
    link: QueueLink
    options: JobOptions
    lock_until: float  # time.monotonic() at which the lock expires, as far as we know
    handler_scope: asyncio.Timeout | None = None  # while the handler runs
    finished: bool = False  # the handler has returned or raised
    lock_lost: bool = False
    stopped: bool = False
    renewal_failed: bool = False  # the last renewal met a dropped connection

    def cancel_handler(self) -> None:
        """Cancel the handler if it runs (a job not started yet checks ``lock_lost`` and
        ``stopped`` before it starts)."""
        if self.handler_scope is not None and not self.handler_scope.expired():
            self.handler_scope.reschedule(-1)  # at once
