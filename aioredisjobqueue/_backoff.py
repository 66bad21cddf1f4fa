"""Jittered exponential backoff, as a pure function."""

from __future__ import annotations

import random
from collections.abc import Callable

__all__ = ["backoff"]


def backoff(
    attempt: int,
    *,
    base: float,
    cap: float,
    floor: float = 0.0,
    rand: Callable[[], float] = random.random,
) -> float:
    """Return the delay in seconds before retry number ``attempt`` (0 for the first).

    Full jitter: a uniform draw between ``floor`` and ``min(cap, base * 2**attempt)``
    (never below ``floor``). ``rand`` returns a float in [0, 1) and is there for tests.
    """
    if attempt < 0:
        raise ValueError(f"attempt must be >= 0, got {attempt!r}")
    # 2**attempt overflows a float past 1023; the cap is reached long before.
    ceiling = cap if attempt >= 64 else min(cap, base * (2.0**attempt))
    ceiling = max(ceiling, floor)
    return floor + (ceiling - floor) * rand()
