"""A job is its JSON value: equal JSON values share one id, whatever Python types and key
order they had, and a job keeps its id through the round trip through Redis."""

from __future__ import annotations

import asyncio
import enum
import json
import random
import uuid
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aioredisjobqueue import DuplicateJobError, RedisJobQueue, job_id
from aioredisjobqueue.testing import RedisServer


class _Level(enum.IntEnum):
    HIGH = 2


class _Name(str):
    """A str subclass that sorts backwards: its order must not be the canonical one."""

    def __lt__(self, other: object) -> bool:
        return str(self) > str(other)


SETTINGS = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow])

scalars = (
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text()
)
# what json.loads gives: objects with str keys only
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=5), children, max_size=5)
    ),
    max_leaves=30,
)
# what json.dumps takes: also tuples, and keys that JSON turns into strings
keys = (
    st.text(max_size=3)
    | st.integers(-20, 20)
    | st.sampled_from(["1", "true", "null", "1.5", "-0.0"])
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.booleans()
    | st.none()
)
python_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5)
        | st.tuples(children, children)
        | st.dictionaries(keys, children, max_size=6)
    ),
    max_leaves=30,
)


def _json_key(key: Any) -> str:
    """The string json.dumps makes of an object key: a reference, written plainly."""
    if isinstance(key, str):
        return key
    if key is True or key is False:
        return "true" if key else "false"
    if key is None:
        return "null"
    return repr(key) if isinstance(key, float) else str(int(key))


def _as_json(value: Any) -> Any:
    """``value`` as the JSON value it stands for; None where two keys of an object become
    one JSON string (then there is no such JSON value)."""
    if isinstance(value, dict):
        out = {}
        for key, item in value.items():
            converted = _as_json(item)
            if _json_key(key) in out or (converted is None and item is not None):
                return None
            out[_json_key(key)] = converted
        return out
    if isinstance(value, list | tuple):
        items = [_as_json(item) for item in value]
        if any(i is None and v is not None for i, v in zip(items, value, strict=True)):
            return None
        return items
    return value


def _shuffled(value: Any, rng: random.Random) -> Any:
    """``value`` with the keys of every object in another order."""
    if isinstance(value, dict):
        items = list(value.items())
        rng.shuffle(items)
        return {key: _shuffled(item, rng) for key, item in items}
    if isinstance(value, list):
        return [_shuffled(item, rng) for item in value]
    return value


@SETTINGS
@given(python_values)
def test_the_id_is_the_id_of_the_json_value(value: Any) -> None:
    expected = _as_json(value)
    if expected is None and value is not None:
        with pytest.raises(ValueError, match=r"payload .*keys .* are the same JSON string"):
            job_id(value)
        return
    assert job_id(value) == job_id(json.loads(json.dumps(value)))
    assert job_id(value) == job_id(expected)


@SETTINGS
@given(json_values, st.randoms(use_true_random=False))
def test_equal_values_in_any_key_order_share_an_id(value: Any, rng: random.Random) -> None:
    assert job_id(_shuffled(value, rng)) == job_id(value)


@pytest.mark.parametrize(
    ("a", "b"),
    [
        ({2: "a", 10: "b"}, {"2": "a", "10": "b"}),
        ({"10": "b", "2": "a"}, {2: "a", 10: "b"}),
        ({1: "x", "b": [{True: None}]}, {"b": [{"true": None}], "1": "x"}),
        ({None: 1, 1.5: 2, False: 3}, {"null": 1, "1.5": 2, "false": 3}),
        ((1, (2, 3)), [1, [2, 3]]),
        ({10: "a", 9.5: "b"}, {"9.5": "b", "10": "a"}),
        ({_Level.HIGH: "x"}, {"2": "x"}),
        ({_Name("b"): 1, "a": [{_Name("d"): 0, "c": 0}]}, {"a": [{"c": 0, "d": 0}], "b": 1}),
    ],
)
def test_python_keys_are_the_strings_json_makes_of_them(a: Any, b: Any) -> None:
    assert job_id(a) == job_id(b) == job_id(json.loads(json.dumps(a)))


@pytest.mark.parametrize(
    ("payload", "first", "second"),
    [
        ({1: "a", "1": "b"}, "1", "'1'"),
        ({"k": [{True: 1, "true": 2}]}, "True", "'true'"),
        ({None: 0, "null": 1}, "None", "'null'"),
    ],
)
def test_keys_that_json_makes_one_string_are_refused(payload: Any, first: str, second: str) -> None:
    with pytest.raises(ValueError, match=f"payload .*keys {first} and {second} of one object"):
        job_id(payload)


async def test_python_keys_and_their_strings_are_one_job_in_redis(
    real_queue: RedisJobQueue,
) -> None:
    job = await real_queue.put({2: "a", 10: "b"})
    with pytest.raises(DuplicateJobError):
        await real_queue.put({"2": "a", "10": "b"})
    assert await real_queue.put_many([{"10": "b", "2": "a"}, {10: "b", 2: "a"}]) == [None, None]
    taken = await real_queue.get()
    assert taken is not None
    assert taken.id == job
    assert taken.payload == {"2": "a", "10": "b"}
    assert job_id(taken.payload) == taken.id
    assert await real_queue.get() is None
    await taken.complete()
    assert (await real_queue.stats()).total == 0


async def test_colliding_keys_are_refused_and_write_nothing(real_queue: RedisJobQueue) -> None:
    with pytest.raises(ValueError, match=r"payload .*keys 1 and '1'"):
        await real_queue.put({1: "a", "1": "b"})
    with pytest.raises(ValueError, match=r"payloads\[1\]: payload .*keys 1 and '1'"):
        await real_queue.put_many(["fine", {1: "a", "1": "b"}])
    assert (await real_queue.stats()).total == 0


@settings(SETTINGS, max_examples=60)
@given(python_values)
def test_a_job_keeps_its_id_through_redis(redis_server: RedisServer, value: Any) -> None:
    expected = _as_json(value)
    if expected is None and value is not None:
        return  # no JSON value: refused, as the test above shows

    async def round_trip() -> None:
        async with RedisJobQueue(f"test-{uuid.uuid4().hex[:12]}", url=redis_server.url) as q:
            put = await q.put(value)
            assert put == job_id(value)
            with pytest.raises(DuplicateJobError):
                await q.put(json.loads(json.dumps(value)))
            job = await q.get()
            assert job is not None
            assert (job.id, job.payload) == (put, json.loads(json.dumps(expected)))
            assert job_id(job.payload) == job.id
            await job.complete()
            assert (await q.stats()).total == 0

    asyncio.run(round_trip())
