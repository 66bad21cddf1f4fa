"""Canonical JSON and content ids.

A job is its JSON content. Two payloads that are equal as JSON values, whatever the
order of their object keys, have the same canonical text and so the same id. Numbers
keep their JSON text: ``1`` and ``1.0`` are different jobs, as are ``1`` and ``true``.

An id has 96 bits: two different payloads share one by chance with odds of about n²/2⁹⁷
for n jobs in a queue (1 in 10¹¹ for a billion), and making a payload that takes the id of
a given job costs about 2⁹⁶ hashes. Twelve bytes keep a job's Redis memory small.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["decode", "encode", "job_id"]

_encoder = json.JSONEncoder(
    skipkeys=False,
    ensure_ascii=False,
    check_circular=True,
    allow_nan=False,
    sort_keys=True,
    separators=(",", ":"),
)


def encode(payload: Any) -> bytes:
    """Return the canonical UTF-8 JSON text of ``payload``.

    Raises ``TypeError`` for a value JSON cannot represent (a set, bytes, an object)
    and ``ValueError`` for NaN or an infinity, or a circular structure.
    """
    try:
        text = _encoder.encode(payload)
    except TypeError as exc:
        raise TypeError(f"payload is not JSON-serializable: {exc}") from None
    except ValueError as exc:
        raise ValueError(f"payload cannot be represented as JSON: {exc}") from None
    return text.encode()


def id_of(text: bytes) -> str:
    """Return the job id of a canonical JSON text: 24 hex digits (96 bits) of its SHA-256."""
    return hashlib.sha256(text).hexdigest()[:24]


def job_id(payload: Any) -> str:
    """Return the id a job with this payload has in any queue, without asking Redis.

    The id is the first 24 hex digits (96 bits) of the SHA-256 of the payload's canonical JSON
    (sorted keys, no spaces, UTF-8). Raises as ``encode`` does.
    """
    return id_of(encode(payload))


def decode(text: bytes | str) -> Any:
    """Return the payload of a stored JSON text."""
    return json.loads(text)
