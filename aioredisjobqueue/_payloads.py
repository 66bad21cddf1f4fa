"""Typed payloads: codecs between a queue's payload type and the JSON value stored for it.

A queue stores every payload as canonical JSON (``_codec``), and a job's id is the hash of
that text, so content identity holds whatever the type. A codec turns a payload into a JSON
value (``to_json``) and back (``from_json``). ``RedisJobQueue(name)`` uses ``JsonCodec``,
which passes JSON values through unchanged; ``RedisJobQueue(name, payload_type=Email)``
picks ``DataclassCodec`` or ``PydanticCodec`` for a dataclass or a pydantic model, and
``codec=`` takes any object with the two methods.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from typing import Any, Generic, Protocol, Self, runtime_checkable

from typing_extensions import TypeVar

__all__ = [
    "DataclassCodec",
    "JsonCodec",
    "P",
    "PayloadCodec",
    "PydanticCodec",
    "codec_for",
    "resolve_codec",
]

# The payload type of a queue, a job, a codec: Any (plain JSON values) unless given.
P = TypeVar("P", default=Any)
T = TypeVar("T")


@runtime_checkable
class PayloadCodec(Protocol[P]):
    """Turns payloads of type ``P`` into JSON values and back.

    ``to_json`` returns what ``json.dumps`` accepts (dicts with string keys, lists, strings,
    numbers, booleans, None) and raises ``TypeError`` or ``ValueError`` for a payload it
    cannot take, before anything reaches Redis. ``from_json`` gets the JSON value stored
    (object keys sorted) and returns the payload, or raises if the value does not fit.
    """

    def to_json(self, payload: P, /) -> Any:
        """The JSON value to store for ``payload``."""
        ...

    def from_json(self, data: Any, /) -> P:
        """The payload a stored JSON value stands for."""
        ...


class JsonCodec:
    """The default codec: payloads are JSON values, stored and returned as they are."""

    def to_json(self, payload: Any, /) -> Any:
        """``payload`` itself."""
        return payload

    def from_json(self, data: Any, /) -> Any:
        """``data`` itself."""
        return data

    def __repr__(self) -> str:
        return "JsonCodec()"


JSON = JsonCodec()


class DataclassCodec(Generic[T]):
    """Payloads that are instances of the dataclass ``cls``, stored as JSON objects.

    Fields hold JSON values, nested dataclasses, or lists, dicts (string keys) and optional
    values of them; ``from_json`` rebuilds the nested dataclasses. Values are not checked
    against their annotations: use ``PydanticCodec`` for validation and richer types.
    ``to_json`` raises ``TypeError`` for anything but an instance of ``cls``, ``from_json``
    ``TypeError`` for a stored object whose keys do not fit the fields.
    """

    def __init__(self, cls: type[T]) -> None:
        if not (isinstance(cls, type) and dataclasses.is_dataclass(cls)):
            raise TypeError(f"DataclassCodec needs a dataclass type, got {cls!r}")
        self.cls = cls

    def to_json(self, payload: T, /) -> Any:
        """The fields of ``payload`` as a JSON object, nested dataclasses included."""
        if not isinstance(payload, self.cls):
            raise TypeError(
                f"payload must be a {self.cls.__qualname__}, got {type(payload).__qualname__} "
                f"{payload!r}"
            )
        return dataclasses.asdict(payload)  # type: ignore[call-overload]

    def from_json(self, data: Any, /) -> T:
        """A ``cls`` made from a stored JSON object."""
        built: T = _build(self.cls, data)
        return built

    def __repr__(self) -> str:
        return f"DataclassCodec({self.cls.__qualname__})"


def _build(tp: Any, data: Any) -> Any:
    """``data`` as the annotation ``tp`` wants it: dataclasses rebuilt, all else as is."""
    origin = typing.get_origin(tp)
    if isinstance(tp, type) and dataclasses.is_dataclass(tp):
        if not isinstance(data, dict):
            raise TypeError(f"a {tp.__qualname__} is stored as a JSON object, got {data!r}")
        hints = typing.get_type_hints(tp)
        kwargs = {}
        for key, value in data.items():
            kwargs[key] = _build(hints[key], value) if key in hints else value
        try:
            return tp(**kwargs)
        except TypeError as exc:
            raise TypeError(f"stored JSON does not fit {tp.__qualname__}: {exc}") from None
    if origin is list and isinstance(data, list):
        (item,) = typing.get_args(tp) or (Any,)
        return [_build(item, v) for v in data]
    if origin is dict and isinstance(data, dict):
        _, item = typing.get_args(tp) or (str, Any)
        return {k: _build(item, v) for k, v in data.items()}
    if origin in (typing.Union, types.UnionType) and data is not None:
        options = [a for a in typing.get_args(tp) if a is not type(None)]
        if len(options) == 1:
            return _build(options[0], data)
    return data


class _Model(Protocol):
    """What ``PydanticCodec`` uses of a pydantic (v2) model."""

    @classmethod
    def model_validate(cls, obj: Any) -> Self: ...

    def model_dump(self, *, mode: str = ...) -> dict[str, Any]: ...


M = TypeVar("M", bound=_Model)


class PydanticCodec(Generic[M]):
    """Payloads that are instances of the pydantic (v2) model ``model``.

    ``to_json`` is ``model_dump(mode="json")``; ``from_json`` is ``model_validate``, so a
    stored payload that no longer fits the model raises pydantic's ``ValidationError``
    where the payload is read (``job.payload``; the Worker then retries it as a failure).
    pydantic is an optional dependency: ``pip install 'aioredisjobqueue[pydantic]'``.
    """

    def __init__(self, model: type[M]) -> None:
        if not (
            isinstance(model, type)
            and callable(getattr(model, "model_validate", None))
            and callable(getattr(model, "model_dump", None))
        ):
            raise TypeError(f"PydanticCodec needs a pydantic model class, got {model!r}")
        self.model = model

    def to_json(self, payload: M, /) -> Any:
        """``payload.model_dump(mode="json")``."""
        if not isinstance(payload, self.model):
            raise TypeError(
                f"payload must be a {self.model.__qualname__}, got "
                f"{type(payload).__qualname__} {payload!r}"
            )
        return payload.model_dump(mode="json")

    def from_json(self, data: Any, /) -> M:
        """``model.model_validate(data)``."""
        return self.model.model_validate(data)

    def __repr__(self) -> str:
        return f"PydanticCodec({self.model.__qualname__})"


def codec_for(payload_type: type[T]) -> PayloadCodec[T]:
    """The codec for a ``payload_type``: ``DataclassCodec`` for a dataclass,
    ``PydanticCodec`` for a pydantic model; ``TypeError`` naming it for anything else."""
    if isinstance(payload_type, type) and dataclasses.is_dataclass(payload_type):
        return DataclassCodec(payload_type)
    if isinstance(payload_type, type) and callable(getattr(payload_type, "model_validate", None)):
        codec: PayloadCodec[Any] = PydanticCodec(payload_type)
        return codec
    raise TypeError(
        f"payload_type must be a dataclass or a pydantic model class, got {payload_type!r}; "
        "give codec= for other types"
    )


def resolve_codec(payload_type: type[T] | None, codec: PayloadCodec[T] | None) -> PayloadCodec[T]:
    """The codec of a queue given ``payload_type`` or ``codec`` (not both; neither: JSON).

    Raises ``ValueError`` for both, ``TypeError`` for a codec without ``to_json`` and
    ``from_json`` or a ``payload_type`` no codec is built in for.
    """
    if payload_type is not None and codec is not None:
        raise ValueError(
            f"give payload_type or codec, not both: got payload_type={payload_type!r}, "
            f"codec={codec!r}"
        )
    if codec is not None:
        if not isinstance(codec, PayloadCodec):
            raise TypeError(f"codec must have to_json and from_json methods, got {codec!r}")
        return codec
    if payload_type is not None:
        return codec_for(payload_type)
    json_codec: PayloadCodec[Any] = JSON
    return json_codec
