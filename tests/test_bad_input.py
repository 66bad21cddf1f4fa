"""Bad input raises a clear error naming the argument and value, and writes nothing."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from conftest import MakeQueue

from aioredisjobqueue import RedisJobQueue


async def _snapshot(queue: RedisJobQueue) -> dict[str, Any]:
    """Every key of the queue with its content."""
    state: dict[str, Any] = {}
    r = queue.redis
    for key in queue.keys.all():
        kind = (await r.type(key)).decode()
        if kind == "zset":
            state[key] = await r.zrange(key, 0, -1, withscores=True)
        elif kind == "hash":
            state[key] = await r.hgetall(key)
        elif kind != "none":
            state[key] = kind
    return state


@pytest.mark.parametrize(
    ("name", "error", "message"),
    [
        ("", ValueError, "queue_name must not be empty"),
        ("x" * 201, ValueError, "at most 200 characters, got 201"),
        ("a{b", ValueError, r"must not contain '\{' or '\}'.*'a\{b'"),
        ("a}b", ValueError, r"'a\}b'"),
        (42, TypeError, "queue_name must be a str, got 42"),
    ],
)
def test_bad_queue_names_are_refused(name: Any, error: type[Exception], message: str) -> None:
    with pytest.raises(error, match=message):
        RedisJobQueue(name)


def test_a_name_of_200_characters_is_fine() -> None:
    assert RedisJobQueue("x" * 200).name == "x" * 200


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"max_deliveries": 0}, "max_deliveries must be >= 1, got 0"),
        ({"max_payload_bytes": -5}, "max_payload_bytes must be >= 1, got -5"),
        ({"max_connections": 0}, "max_connections must be >= 1, got 0"),
        ({"url": "redis://x", "redis_host": "y"}, "one way to reach Redis, got url, redis_host"),
        ({"url": ""}, "url must be a redis:// or rediss:// URL, got ''"),
    ],
)
def test_bad_queue_options_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisJobQueue("q", **kwargs)


BAD_PAYLOADS = [
    ({1, 2}, TypeError, "not JSON-serializable"),
    (b"bytes", TypeError, "not JSON-serializable"),
    (object(), TypeError, "not JSON-serializable"),
    ({"n": math.nan}, ValueError, "cannot be represented as JSON"),
    ("x" * 2000, ValueError, "payload is 2002 bytes as JSON, over max_payload_bytes=1000"),
]


@pytest.mark.parametrize(("payload", "error", "message"), BAD_PAYLOADS)
async def test_bad_payloads_are_refused_and_write_nothing(
    make_queue: MakeQueue, payload: Any, error: type[Exception], message: str
) -> None:
    queue = make_queue(max_payload_bytes=1000)
    await queue.put("existing")
    before = await _snapshot(queue)
    with pytest.raises(error, match=message):
        await queue.put(payload)
    with pytest.raises(error, match=message):
        await queue.put_many(["fine", payload])
    assert await _snapshot(queue) == before


BAD_NUMBERS: list[tuple[str, Any, type[Exception], str]] = [
    (
        "lock_timeout",
        0,
        ValueError,
        "lock_timeout must be a positive number of milliseconds, got 0",
    ),
    ("lock_timeout", -1, ValueError, "got -1"),
    ("lock_timeout", math.nan, ValueError, "lock_timeout must be finite, got nan"),
    ("lock_timeout", "1000", TypeError, "lock_timeout must be a number, got '1000'"),
    ("lock_timeout", True, TypeError, "lock_timeout must be a number, got True"),
]


@pytest.mark.parametrize(("arg", "value", "error", "message"), BAD_NUMBERS)
async def test_bad_lock_timeouts_are_refused_and_change_nothing(
    queue: RedisJobQueue, arg: str, value: Any, error: type[Exception], message: str
) -> None:
    await queue.put("job")
    held = await queue.get(lock_timeout=60_000)
    assert held is not None
    await queue.put("other")
    before = await _snapshot(queue)
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: queue.get(lock_timeout=value),
        lambda: queue.get_many(5, lock_timeout=value),
        lambda: held.extend(lock_timeout=value),
        lambda: anext(aiter(queue.consume(lock_timeout=value))),
    ]
    for call in calls:
        with pytest.raises(error, match=message):
            await call()
    assert await _snapshot(queue) == before


@pytest.mark.parametrize(
    ("value", "error", "message"),
    [
        (-1, ValueError, "delay must be >= 0 seconds, got -1"),
        (math.inf, ValueError, "delay must be finite, got inf"),
        ("5", TypeError, "delay must be a number, got '5'"),
    ],
)
async def test_bad_delays_are_refused_and_change_nothing(
    queue: RedisJobQueue, value: Any, error: type[Exception], message: str
) -> None:
    await queue.put("job")
    held = await queue.get(lock_timeout=60_000)
    assert held is not None
    before = await _snapshot(queue)
    with pytest.raises(error, match=message):
        await queue.put("new", delay=value)
    with pytest.raises(error, match=message):
        await queue.put_many(["new"], delay=value)
    with pytest.raises(error, match=message):
        await held.release(delay=value)
    assert await _snapshot(queue) == before


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        (
            {"min_interval": 0},
            ValueError,
            "min_interval must be a positive number of seconds, got 0",
        ),
        ({"max_interval": -1.0}, ValueError, "max_interval must be a positive number"),
        ({"min_interval": 2.0, "max_interval": 1.0}, ValueError, "max_interval must be >= min"),
    ],
)
async def test_bad_consume_intervals_are_refused(
    queue: RedisJobQueue, kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        await anext(aiter(queue.consume(**kwargs)))


async def test_bad_counts_are_refused(queue: RedisJobQueue) -> None:
    with pytest.raises(ValueError, match="count must be >= 1, got 0"):
        await queue.get_many(0)
    with pytest.raises(TypeError, match=r"count must be an int, got 2\.5"):
        await queue.get_many(2.5)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="limit must be >= 1, got 0"):
        await queue.dead_letters(limit=0)
