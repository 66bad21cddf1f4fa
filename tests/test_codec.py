import math

import pytest

from aioredisjobqueue import job_id
from aioredisjobqueue._codec import decode, encode


def test_key_order_does_not_change_the_text_or_the_id() -> None:
    a = {"to": "a@b.c", "body": {"x": 1, "y": [1, 2]}}
    b = {"body": {"y": [1, 2], "x": 1}, "to": "a@b.c"}
    assert encode(a) == encode(b) == b'{"body":{"x":1,"y":[1,2]},"to":"a@b.c"}'
    assert job_id(a) == job_id(b)


def test_id_is_24_hex_digits_of_sha256_of_the_canonical_text() -> None:
    import hashlib

    assert job_id("hello") == hashlib.sha256(b'"hello"').hexdigest()[:24]


def test_different_content_has_different_ids() -> None:
    ids = {job_id(p) for p in [1, 1.0, True, "1", [1], {"1": 1}, None]}
    assert len(ids) == 7


def test_unicode_is_kept_as_utf8() -> None:
    assert encode("héllo ✓") == '"héllo ✓"'.encode()
    assert decode(encode({"k": "héllo ✓"})) == {"k": "héllo ✓"}


@pytest.mark.parametrize("payload", [{1, 2}, b"bytes", object(), {"k": 1j}])
def test_unrepresentable_payload_raises_type_error(payload: object) -> None:
    with pytest.raises(TypeError, match="payload is not JSON-serializable"):
        encode(payload)


@pytest.mark.parametrize("number", [math.nan, math.inf, -math.inf])
def test_non_finite_numbers_raise_value_error(number: float) -> None:
    with pytest.raises(ValueError, match="payload cannot be represented as JSON"):
        encode({"n": number})


def test_circular_payload_raises_value_error() -> None:
    loop: list[object] = []
    loop.append(loop)
    with pytest.raises(ValueError, match="payload cannot be represented as JSON"):
        encode(loop)
