"""Checks of user arguments: each raises before anything reaches Redis, naming the
argument and the value it got."""

from __future__ import annotations

import math

__all__ = [
    "MAX_SECONDS",
    "count",
    "delay_us",
    "job_id",
    "lock_ms",
    "positive_int",
    "positive_seconds",
    "seconds",
    "shards",
]

# The longest duration any argument may have: 10 years (365-day). Scores stay exact in
# Redis: the server's time plus this, in µs, is far below 2**53.
MAX_SECONDS = 10 * 365 * 24 * 3600


def show(value: object) -> str:
    """``repr(value)``, but short for an int too large to print (Python refuses to turn
    one of over 4,300 digits into text)."""
    if isinstance(value, int) and not isinstance(value, bool) and value.bit_length() > 64:
        return f"{'a negative' if value < 0 else 'an'} int of {value.bit_length()} bits"
    return repr(value)


def _number(name: str, value: object, unit: str = "seconds", scale: int = 1) -> float:
    """A finite number that is at most ``MAX_SECONDS`` (times ``scale`` in ``unit``)."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {show(value)}")
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if value > MAX_SECONDS * scale:
        raise ValueError(
            f"{name} must be at most {MAX_SECONDS * scale} {unit} (10 years), got {show(value)}"
        )
    # the callers refuse negative values, each with its own message; far ones stay floats
    return float(max(value, -MAX_SECONDS * scale - 1))


def lock_ms(value: object, name: str = "lock_timeout") -> int:
    """A lock timeout in milliseconds: a positive number, rounded up to whole ms."""
    ms = _number(name, value, "milliseconds", 1000)
    if ms <= 0:
        raise ValueError(f"{name} must be a positive number of milliseconds, got {show(value)}")
    return math.ceil(ms)


def delay_us(value: object, name: str = "delay") -> int:
    """A delay in seconds, >= 0, as whole microseconds."""
    return round(seconds(value, name) * 1_000_000)


def seconds(value: object, name: str) -> float:
    """A number of seconds, >= 0."""
    number = _number(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {show(value)}")
    return number


def positive_seconds(value: object, name: str) -> float:
    """A positive number of seconds."""
    number = _number(name, value)
    if number <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {show(value)}")
    return number


def positive_int(value: object, name: str) -> int:
    """An int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {show(value)}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {show(value)}")
    return value


# The most shards a queue may have.
MAX_SHARDS = 1024


def shards(value: object, name: str = "shards") -> int:
    """A number of shards: an int from 1 to ``MAX_SHARDS``."""
    number = positive_int(value, name)
    if number > MAX_SHARDS:
        raise ValueError(f"{name} must be at most {MAX_SHARDS}, got {show(value)}")
    return number


def count(value: object, name: str) -> int:
    """An int >= 0."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 0:
        raise ValueError(f"{name} must be an int >= 0, got {show(value)}")
    return value


def job_id(value: object, name: str) -> str:
    """A job id: 24 hex digits (any case), returned in lower case."""
    if isinstance(value, str) and len(value) == 24:
        try:
            return bytes.fromhex(value).hex()
        except ValueError:
            pass
    raise ValueError(f"{name} must be a job id (24 hex digits), got {show(value)}")
