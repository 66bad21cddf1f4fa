"""Canonical JSON and content ids.

A job is its JSON value. Two payloads that are the same JSON value have the same canonical
text and so the same id, whatever the order of their object keys, and whatever Python type
a key had before JSON made it a string: ``{2: "a"}`` and ``{"2": "a"}`` are one job, as
they are one JSON text. Keys are sorted as the strings JSON makes of them, so the payload a
consumer gets back has the id of the job it came in. Numbers keep their JSON text: ``1``
and ``1.0`` are different jobs, as are ``1`` and ``true``.

An id has 96 bits: two different payloads share one by chance with odds of about n²/2⁹⁷
for n jobs in a queue (1 in 10¹¹ for a billion), and making a payload that takes the id of
a given job costs about 2⁹⁶ hashes. Twelve bytes keep a job's Redis memory small.

A job put with a chosen key has the id of its key instead: the SHA-256 of ``key:`` and
the key's UTF-8 text. No JSON text starts with ``k``, so a key's id is never a content id.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any

__all__ = ["decode", "encode", "encode_bounded", "id_of", "job_id", "key_id"]

MAX_KEY_CHARS = 1000

_OPTIONS: dict[str, Any] = {
    "skipkeys": False,
    "ensure_ascii": False,
    "check_circular": True,
    "allow_nan": False,
    "separators": (",", ":"),
}
_sorted = json.JSONEncoder(sort_keys=True, **_OPTIONS)
_unsorted = json.JSONEncoder(sort_keys=False, **_OPTIONS)
_SCALARS = frozenset({str, int, float, bool, type(None)})
# How deep lists and objects may nest in a payload: well within what json.loads can read
# back in a consumer's deep call stack (Python's recursion limit counts its levels too).
MAX_DEPTH = 200
_STR = frozenset({str})


def encode(payload: Any) -> bytes:
    """Return the canonical UTF-8 JSON text of ``payload``: object keys as strings, sorted.

    Raises ``TypeError`` for a value JSON cannot represent (a set, bytes, an object) and
    ``ValueError`` for NaN or an infinity, a circular or too deeply nested structure, a
    lone surrogate (no UTF-8 for it), or two keys of one object that JSON makes the same
    string (``{1: "a", "1": "b"}``).
    """
    try:
        try:
            text, comparable = _sorted.encode(payload), True
        except TypeError:
            # keys of types that do not compare (1 and "a") cannot be sorted as they are
            text, comparable = _unsorted.encode(payload), False
        if not _only_string_keys(payload) or not comparable:
            text = _canonical(text, payload)
    except TypeError as exc:
        raise TypeError(f"payload is not JSON-serializable: {exc}") from None
    except RecursionError:
        raise ValueError(
            f"payload cannot be represented as JSON: lists and objects nest more than "
            f"{MAX_DEPTH} deep"
        ) from None
    except ValueError as exc:
        raise ValueError(f"payload cannot be represented as JSON: {exc}") from None
    try:
        return text.encode()
    except UnicodeEncodeError as exc:
        bad = exc.object[exc.start : exc.end]
        raise ValueError(
            f"payload cannot be represented as JSON: it holds a lone surrogate {bad!r} "
            "(a str that is no Unicode text, which UTF-8 cannot encode)"
        ) from None


def encode_bounded(value: Any, max_bytes: int, what: str = "payload") -> bytes:
    """``encode(value)``, with errors that call it ``what``, and ``ValueError`` for a text
    over ``max_bytes`` (the queue's ``max_payload_bytes``)."""
    try:
        text = encode(value)
    except (TypeError, ValueError) as exc:
        error = TypeError if isinstance(exc, TypeError) else ValueError
        raise error(str(exc).replace("payload", what, 1)) from None
    if len(text) > max_bytes:
        raise ValueError(f"{what} is {len(text)} bytes as JSON, over max_payload_bytes={max_bytes}")
    return text


def _canonical(text: str, payload: Any) -> str:
    """The canonical form of ``payload``, whose JSON ``text`` has keys not sorted as strings.

    Raises ``ValueError`` if an object holds two keys that JSON makes one string: parsing
    would keep only one of them (the text gets shorter).
    """
    canonical = _sorted.encode(json.loads(text))
    if len(canonical) != len(text):
        first, second = _same_keys(payload)
        raise ValueError(
            f"keys {first!r} and {second!r} of one object are the same JSON string "
            f"{_unsorted.encode(_json_key(first))}"
        )
    return canonical


def _json_key(key: Any) -> str:
    """The string JSON makes of an object key (1 -> "1", True -> "true", None -> "null")."""
    key_text: str = next(iter(json.loads(_unsorted.encode({key: 0}))))
    return key_text


def _same_keys(payload: Any) -> tuple[Any, Any]:
    """Two keys of one object in ``payload`` that JSON makes the same string."""
    stack = [payload]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            seen: dict[str, Any] = {}
            for key in value:
                if (other := seen.setdefault(_json_key(key), key)) is not key:
                    return other, key
            stack.extend(value.values())
        elif isinstance(value, list | tuple):
            stack.extend(value)
    raise AssertionError("no two keys of one object are the same JSON string")


def _only_string_keys(payload: Any) -> bool:
    """True if every object key in ``payload`` is a str (not a subclass: its order might
    differ); ``ValueError`` if lists and objects nest more than ``MAX_DEPTH`` deep.

    ``payload`` has no cycle (JSON encoded it). It is walked one level at a time, and the
    types of a container's items are gathered in C, so long flat lists cost little.
    """
    only_strings = True
    level, depth = [payload], 0
    while level:
        below: list[Any] = []
        for value in level:
            if isinstance(value, dict):
                only_strings = only_strings and set(map(type, value)) <= _STR
                value = value.values()
            elif not isinstance(value, list | tuple):
                continue
            if not set(map(type, value)) <= _SCALARS:
                below.extend([item for item in value if type(item) not in _SCALARS])
        depth += 1
        if depth > MAX_DEPTH:
            raise ValueError(f"lists and objects nest more than {MAX_DEPTH} deep")
        level = below
    return only_strings


def id_of(text: bytes) -> str:
    """Return the job id of a canonical JSON text: 24 hex digits (96 bits) of its SHA-256."""
    return hashlib.sha256(text).hexdigest()[:24]


def key_id(key: object, name: str = "key") -> str:
    """Return the job id of a chosen key: 24 hex digits (96 bits) of the SHA-256 of
    ``key:`` and the key's UTF-8 text.

    Raises ``TypeError`` for a key that is no str, ``ValueError`` for an empty one or one
    over 1000 characters.
    """
    if not isinstance(key, str):
        raise TypeError(f"{name} must be a str, got {key!r}")
    if not key or len(key) > MAX_KEY_CHARS:
        shown = repr(key) if len(key) <= 40 else f"{key[:40]!r}... ({len(key)} characters)"
        raise ValueError(f"{name} must be 1 to {MAX_KEY_CHARS} characters, got {shown}")
    try:
        text = key.encode()
    except UnicodeEncodeError:
        raise ValueError(f"{name} must be encodable as UTF-8, got {key!r}") from None
    return hashlib.sha256(b"key:" + text).hexdigest()[:24]


def job_id(payload: Any, *, key: str | None = None) -> str:
    """Return the id a job with this payload has in any queue, without asking Redis.

    The id is the first 24 hex digits (96 bits) of the SHA-256 of the payload's canonical JSON
    (object keys as JSON strings, sorted; no spaces; UTF-8); with a ``key``, it is the id
    of the key (see ``put(..., key=)``), whatever the payload. Raises as ``encode`` does (the
    payload is checked with a key too, as ``put`` checks it) and as ``key_id`` does.
    """
    text = encode(payload)
    return id_of(text) if key is None else key_id(key)


def decode(text: bytes | str) -> Any:
    """Return the payload of a stored JSON text."""
    return json.loads(text)
