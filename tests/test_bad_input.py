"""Bad input raises a clear error naming the argument and value, and writes nothing."""

from __future__ import annotations

import functools
import math
import os
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
import redis
from conftest import MakeQueue
from test_cli import assert_one_line_error, cli

from aioredisjobqueue import RedisJobQueue, Worker
from aioredisjobqueue.testing import RedisServer


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
        ("a\ud800b", ValueError, r"queue_name must be Unicode text, .*lone surrogate '\\ud800'"),
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
        ({"url": ""}, r"url must be a redis://, rediss:// or redis\+… URL, got ''"),
    ],
)
def test_bad_queue_options_are_refused(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        RedisJobQueue("q", **kwargs)


def _nested(depth: int) -> list[Any]:
    """Lists nested ``depth`` deep: ``_nested(2) == [[]]``."""
    value: list[Any] = []
    for _ in range(depth - 1):
        value = [value]
    return value


BAD_PAYLOADS = [
    ({1, 2}, TypeError, "not JSON-serializable"),
    (b"bytes", TypeError, "not JSON-serializable"),
    (object(), TypeError, "not JSON-serializable"),
    ({"n": math.nan}, ValueError, "cannot be represented as JSON"),
    ("x" * 2000, ValueError, "payload is 2002 bytes as JSON, over max_payload_bytes=1000"),
    (["ok", {"k": "a\ud800"}], ValueError, r"payload .* lone surrogate '\\ud800'"),
    ({1: "a", "1": "b"}, ValueError, r"payload .*keys 1 and '1' of one object"),
    (_nested(5000), ValueError, "payload cannot be represented as JSON: .* nest more than 200"),
    (_nested(201), ValueError, "payload cannot be represented as JSON: .* nest more than 200"),
    ({"a": [{"b": _nested(198)}]}, ValueError, "lists and objects nest more than 200 deep"),
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
    ("lock_timeout", 10**400, ValueError, "lock_timeout must be at most 315360000000 millis"),
    ("lock_timeout", 1e303, ValueError, r"lock_timeout must be at most .* got 1e\+303"),
    ("lock_timeout", -(10**400), ValueError, "lock_timeout must be a positive number"),
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
        (10**400, ValueError, "delay must be at most 315360000 seconds .* int of 1329 bits"),
        (1e303, ValueError, r"delay must be at most 315360000 seconds .* got 1e\+303"),
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


async def test_a_lone_surrogate_names_the_payload_index(queue: RedisJobQueue) -> None:
    before = await _snapshot(queue)
    with pytest.raises(ValueError, match=r"^payloads\[2\]: .*lone surrogate '\\ud800'"):
        await queue.put_many(["a", "b", {"text": "\ud800"}, "d"])
    assert await _snapshot(queue) == before


@pytest.mark.parametrize(
    "kwargs",
    [{"grace": 10**400}, {"retry_delay": 1e303}, {"timeout": 10**400}, {"lock_timeout": 1e303}],
)
def test_huge_worker_durations_are_refused(kwargs: dict[str, Any]) -> None:
    async def handler(job: Any) -> None:
        pass

    (name,) = kwargs
    with pytest.raises(ValueError, match=f"^{name} must be at most"):
        Worker(RedisJobQueue("q"), handler, **kwargs)


@pytest.mark.parametrize("handler", [os.system, print, functools.partial(print), dict])
def test_a_handler_that_is_not_async_is_refused(handler: Any) -> None:
    with pytest.raises(TypeError, match="handler must be an async function taking a Job"):
        Worker(RedisJobQueue("q"), handler)


# -- on the command line: one line, exit status 2, nothing queued -----------------------------


@pytest.mark.parametrize(
    ("args", "text"),
    [
        (["put", "{name}", "[" * 5000], "not valid JSON: nested too deeply"),
        (["put", "{name}", "1" * 5000], "not valid JSON: Exceeds the limit (4300 digits)"),
        (["put", "{name}", '["\\ud800"]'], "lone surrogate"),
        (["put", "{name}", "1", "--delay", "1e308"], "--delay must be at most 315360000"),
        (["worker", "os:system", "-q", "{name}"], "handler must be an async function"),
        (
            ["worker", "asyncio:sleep", "-q", "{name}", "--lock-timeout", "1e308"],
            "--lock-timeout must be at most",
        ),
    ],
)
def test_bad_input_on_the_command_line_is_one_line_and_exit_2(
    redis_server: RedisServer, queue_name: str, args: list[str], text: str
) -> None:
    result = cli(*(a.replace("{name}", queue_name) for a in args), url=redis_server.url)
    assert_one_line_error(result, 2, text)
    keys = redis.Redis(port=redis_server.port).keys(f"ajq:{{{queue_name}}}:*")
    assert keys == []


async def test_the_deepest_payload_allowed_comes_back_in_a_deep_call_stack(
    real_queue: RedisJobQueue,
) -> None:
    # a payload put must never fail its consumer's json.loads, however deep its call stack
    deepest = _nested(200)
    await real_queue.put(deepest)

    async def get_from_below(frames: int) -> Any:
        return await get_from_below(frames - 1) if frames else await real_queue.get()

    job = await get_from_below(200)
    assert job is not None and job.payload == deepest
    await job.complete()
