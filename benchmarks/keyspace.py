"""Where a library's queued jobs keep their bytes: ``MEMORY USAGE`` of every key, by pattern.

Used by the memory workload after N jobs were queued on an empty private server, so every
key belongs to the library under test. Keys that differ only by an id or a number (one key
per job, say) share a pattern and one line. For each pattern: how many keys, their type
and encoding, their elements, ``MEMORY USAGE ... SAMPLES 0`` (exact) summed, and from a
sample of elements the average bytes of a member or field name and of a value.
"""

from __future__ import annotations

import re
from typing import Any

import redis.asyncio

__all__ = ["by_pattern"]

SCAN_COUNT = 1000
SAMPLE = 200
# an id (hex, a uuid, packed bytes) or a number inside a key name
_VARIABLE = re.compile(r"[0-9a-fA-F-]{8,}|\d+|(?:\\x[0-9a-f]{2}|[^\x20-\x7e])+")

_LENGTH = {
    "hash": "HLEN",
    "zset": "ZCARD",
    "list": "LLEN",
    "set": "SCARD",
    "stream": "XLEN",
}


def pattern(key: bytes) -> str:
    """The key name with ids and numbers replaced by ``*``."""
    return _VARIABLE.sub("*", key.decode("utf-8", "backslashreplace"))


async def _sizes(client: redis.asyncio.Redis, kind: str, key: bytes) -> tuple[float, float]:
    """Average bytes of a member (or field) name and of a value, over up to SAMPLE elements;
    0 where the type has none (a zset's value is its 8-byte score: shown as 8)."""
    if kind == "string":
        return 0.0, float(await client.strlen(key))
    pairs: list[tuple[bytes, bytes]] = []
    if kind == "hash":
        _, found = await client.hscan(key, count=SAMPLE)
        pairs = [(k, v) for k, v in found.items()][:SAMPLE]
    elif kind == "zset":
        _, scored = await client.zscan(key, count=SAMPLE)
        pairs = [(m, b"x" * 8) for m, _ in scored][:SAMPLE]
    elif kind == "set":
        _, members = await client.sscan(key, count=SAMPLE)
        pairs = [(m, b"") for m in members][:SAMPLE]
    elif kind == "list":
        pairs = [(b"", v) for v in await client.lrange(key, 0, SAMPLE - 1)]
    elif kind == "stream":
        entries = await client.xrange(key, count=SAMPLE)
        pairs = [(i, b"".join(k + v for k, v in fields.items())) for i, fields in entries]
    if not pairs:
        return 0.0, 0.0
    return (
        sum(len(k) for k, _ in pairs) / len(pairs),
        sum(len(v) for _, v in pairs) / len(pairs),
    )


async def by_pattern(client: redis.asyncio.Redis, jobs: int) -> list[dict[str, Any]]:
    """One entry per key pattern, the largest first; bytes also per job (``jobs``)."""
    groups: dict[str, dict[str, Any]] = {}
    cursor = 0
    while True:
        cursor, keys = await client.scan(cursor, count=SCAN_COUNT)
        async with client.pipeline(transaction=False) as pipe:
            for key in keys:
                pipe.execute_command("MEMORY", "USAGE", key, "SAMPLES", "0")
                pipe.type(key)
                pipe.object("encoding", key)
            replies = await pipe.execute()
        for k, key in enumerate(keys):
            usage, kind, encoding = replies[3 * k : 3 * k + 3]
            kind = kind.decode() if isinstance(kind, bytes) else str(kind)
            encoding = encoding.decode() if isinstance(encoding, bytes) else str(encoding)
            group = groups.setdefault(
                pattern(key),
                {"keys": 0, "type": kind, "encodings": set(), "bytes": 0, "first": key},
            )
            group["keys"] += 1
            group["bytes"] += int(usage or 0)
            group["encodings"].add(encoding)
        if cursor == 0:
            break
    out = []
    for name, group in groups.items():
        kind = group["type"]
        elements = 1
        if kind in _LENGTH:
            elements = int(await client.execute_command(_LENGTH[kind], group["first"]))
        name_bytes, value_bytes = await _sizes(client, kind, group["first"])
        out.append(
            {
                "pattern": name,
                "keys": group["keys"],
                "type": kind,
                "encoding": "/".join(sorted(group["encodings"])),
                "elements_first": elements,
                "bytes": group["bytes"],
                "bytes_per_job": group["bytes"] / jobs,
                "name_bytes": name_bytes,
                "value_bytes": value_bytes,
            }
        )
    return sorted(out, key=lambda g: -g["bytes"])
