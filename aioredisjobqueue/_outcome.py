"""Exceptions a handler raises to choose what becomes of its job.

A handler that raises any other exception has its job retried with backoff, up to the
Worker's ``max_deliveries``.
"""

from __future__ import annotations

import math

__all__ = ["DoNotRetry", "RetryAfter"]


class DoNotRetry(Exception):
    """Raised by a handler: the job cannot succeed, move it to the dead letters now.

    Raise it ``from`` the error that says why (``raise DoNotRetry("bad address") from
    exc``): the dead letter keeps that cause as its error, else this exception.
    """


class RetryAfter(Exception):
    """Raised by a handler: retry the job after ``delay`` seconds (not the backoff's).

    The job still counts against ``max_deliveries``. Raise it ``from`` the error that
    caused it to keep that error as the job's last one.
    """

    def __init__(self, delay: float, message: str = "") -> None:
        if isinstance(delay, bool) or not isinstance(delay, int | float):
            raise TypeError(f"delay must be a number of seconds, got {delay!r}")
        if not math.isfinite(delay) or delay < 0:
            raise ValueError(f"delay must be >= 0 seconds, got {delay!r}")
        super().__init__(message or f"retry after {delay:g} s")
        self.delay = float(delay)
