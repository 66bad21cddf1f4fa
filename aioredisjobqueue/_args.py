"""Checks of user arguments: each raises before anything reaches Redis, naming the
argument and the value it got."""

from __future__ import annotations

import math

__all__ = ["delay_us", "job_id", "lock_ms", "positive_int", "positive_seconds", "seconds"]


def _number(name: str, value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TypeError(f"{name} must be a number, got {value!r}")
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    return float(value)


def lock_ms(value: object, name: str = "lock_timeout") -> int:
    """A lock timeout in milliseconds: a positive number, rounded up to whole ms."""
    ms = _number(name, value)
    if ms <= 0:
        raise ValueError(f"{name} must be a positive number of milliseconds, got {value!r}")
    return math.ceil(ms)


def delay_us(value: object, name: str = "delay") -> int:
    """A delay in seconds, >= 0, as whole microseconds."""
    seconds = _number(name, value)
    if seconds < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return round(seconds * 1_000_000)


def seconds(value: object, name: str) -> float:
    """A number of seconds, >= 0."""
    number = _number(name, value)
    if number < 0:
        raise ValueError(f"{name} must be >= 0 seconds, got {value!r}")
    return number


def positive_seconds(value: object, name: str) -> float:
    """A positive number of seconds."""
    seconds = _number(name, value)
    if seconds <= 0:
        raise ValueError(f"{name} must be a positive number of seconds, got {value!r}")
    return seconds


def positive_int(value: object, name: str) -> int:
    """An int >= 1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {value!r}")
    if value < 1:
        raise ValueError(f"{name} must be >= 1, got {value!r}")
    return value


def job_id(value: object, name: str) -> str:
    """A job id: 24 hex digits (any case), returned in lower case."""
    if isinstance(value, str) and len(value) == 24:
        try:
            return bytes.fromhex(value).hex()
        except ValueError:
            pass
    raise ValueError(f"{name} must be a job id (24 hex digits), got {value!r}")
