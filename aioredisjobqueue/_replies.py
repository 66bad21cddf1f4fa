"""Job ids as Redis stores them, and what the scripts answer, read into Python values.

A job id is stored as its 12 raw bytes (the 24 hex digits users see, packed). Scripts
answer flat arrays; ``_records`` is the one reader of them.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

__all__ = ["Completion", "DeadEntry", "Delivery", "Page", "PageEntry", "deliveries"]


def _hex(key: bytes | str) -> str:
    """The job id (hex) of a key as Redis stores it (12 raw bytes, to save memory)."""
    return key.hex() if isinstance(key, bytes) else key.encode("latin-1").hex()


_key = bytes.fromhex


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


def _records(flat: list[Any], width: int) -> Iterator[tuple[Any, ...]]:
    """The records of a flat script reply, ``width`` fields each: the one reader of the
    flat arrays the scripts return."""
    if len(flat) % width:
        raise ValueError(f"a script reply of {len(flat)} fields is no list of {width}-tuples")
    fields = iter(flat)
    return zip(*[fields] * width, strict=True)


def _pairs(flat: list[Any]) -> dict[str, str]:
    """A hash as HGETALL returns it in a script's reply: field, value, field, value, …"""
    return {_text(field): _text(value) for field, value in _records(flat, 2)}


def deliveries(flat: list[Any], token: str) -> list[Delivery]:
    """The jobs a get.lua reply hands out, all under ``token``."""
    return [
        Delivery(_hex(key), payload, int(deliveries), token, int(waited))
        for key, payload, deliveries, waited in _records(flat, 4)
    ]


@dataclass(frozen=True, slots=True)
class Delivery:
    """A job as ``get.lua`` hands it out."""

    id: str
    payload: bytes | str
    deliveries: int
    token: str
    waited_us: int = 0  # how long it had been due when taken (server clock)


@dataclass(frozen=True, slots=True)
class DeadEntry:
    """A dead-lettered job as ``dead.lua`` lists it."""

    id: str
    payload: bytes | str
    deliveries: int
    died_at_us: int
    error: str | None


@dataclass(frozen=True, slots=True)
class Completion:
    """A job to complete: held under ``token``; ``result`` (JSON text) kept ``ttl_ms`` ms."""

    id: str
    token: str
    result: bytes | None = None
    ttl_ms: int = 0


@dataclass(frozen=True, slots=True)
class PageEntry:
    """A job as ``page.lua`` lists it: its payload cut to a preview, its zset score, its
    last error, and the task it runs if it is a typed task's job."""

    id: str
    preview: bytes | str
    payload_bytes: int
    deliveries: int
    score_us: int
    error: str | None
    task: str | None


@dataclass(frozen=True, slots=True)
class Page:
    """One page of a queue's jobs in one state, read at ``now_us`` (server clock)."""

    now_us: int
    total: int
    entries: list[PageEntry]
