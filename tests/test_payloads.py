"""Typed payloads: a queue typed by its payload (a dataclass, a pydantic model, any codec)
stores JSON and hands out instances; mypy sees the type flow from put to job.payload."""

from __future__ import annotations

import dataclasses
import datetime as dt
import subprocess
import sys
from pathlib import Path
from typing import Any

import pydantic
import pytest
from conftest import MakeQueue

from aioredisjobqueue import (
    DataclassCodec,
    Job,
    JsonCodec,
    PydanticCodec,
    RedisJobQueue,
    job_id,
)
from aioredisjobqueue.testing import drain


@dataclasses.dataclass(frozen=True)
class Address:
    name: str
    email: str


@dataclasses.dataclass(frozen=True)
class Email:
    to: Address
    subject: str
    cc: list[Address] = dataclasses.field(default_factory=list)
    reply_to: Address | None = None
    tags: dict[str, int] = dataclasses.field(default_factory=dict)


class Thumbnail(pydantic.BaseModel):
    url: pydantic.HttpUrl
    width: int = pydantic.Field(gt=0)
    taken: dt.date


EMAIL = Email(
    to=Address("Ada", "ada@example.org"),
    subject="hello",
    cc=[Address("Bob", "bob@example.org")],
    reply_to=Address("Cy", "cy@example.org"),
    tags={"priority": 1},
)


async def test_a_dataclass_queue_hands_out_instances(make_queue: MakeQueue) -> None:
    queue = make_queue(payload_type=Email)
    job_id_put = await queue.put(EMAIL)
    job = await queue.get()
    assert job is not None
    assert job.payload == EMAIL  # nested dataclasses, lists, optionals and dicts rebuilt
    assert isinstance(job.payload.cc[0], Address)
    assert job.get() is job.payload
    # stored as JSON: the same content has the same id as the plain JSON value
    assert job.data == dataclasses.asdict(EMAIL)
    assert job_id_put == job.id == job_id(dataclasses.asdict(EMAIL))
    await job.complete()


async def test_equal_instances_are_one_job(make_queue: MakeQueue) -> None:
    queue = make_queue(codec=DataclassCodec(Email))
    copy = dataclasses.replace(EMAIL)
    assert await queue.put_many([EMAIL, copy]) == [job_id(dataclasses.asdict(EMAIL)), None]


async def test_a_pydantic_queue_validates_what_it_reads(make_queue: MakeQueue) -> None:
    queue = make_queue(payload_type=Thumbnail)
    thumb = Thumbnail(url="https://example.org/a.png", width=64, taken=dt.date(2026, 11, 30))
    await queue.put(thumb)
    job = await queue.get()
    assert job is not None
    assert job.payload == thumb
    assert job.data == {"taken": "2026-11-30", "url": "https://example.org/a.png", "width": 64}


async def test_a_payload_of_the_wrong_type_is_refused_before_redis(make_queue: MakeQueue) -> None:
    queue = make_queue(payload_type=Email)
    with pytest.raises(TypeError, match=r"payload must be a Email, got dict \{'to': 'x'\}"):
        await queue.put({"to": "x"})
    with pytest.raises(TypeError, match=r"payloads\[1\]: payload must be a Email, got str"):
        await queue.put_many([EMAIL, "not an email"])
    assert (await queue.stats()).total == 0


async def test_a_stored_payload_that_does_not_fit_fails_its_job_not_the_get(
    make_queue: MakeQueue, queue_name: str
) -> None:
    plain = make_queue()  # another producer, putting JSON the typed consumer does not accept
    await plain.put({"url": "not a url", "width": -1, "taken": "yesterday"})
    await plain.put({"url": "https://example.org/b.png", "width": 8, "taken": "2026-11-30"})
    typed = make_queue(payload_type=Thumbnail, max_deliveries=2)
    widths: list[int] = []

    async def handler(job: Job[Thumbnail]) -> None:
        widths.append(job.payload.width)

    result = await drain(typed, handler)
    assert (result.completed, result.dead) == (1, 1)
    assert widths == [8]
    (dead,) = await typed.dead_letters()
    assert dead.payload["url"] == "not a url"  # inspection shows the stored JSON
    failures = [e.error for e in result.events if e.error is not None]
    assert failures and all(isinstance(e, pydantic.ValidationError) for e in failures)


async def test_a_codec_of_your_own(make_queue: MakeQueue) -> None:
    class DateCodec:
        def to_json(self, payload: dt.date, /) -> Any:
            return payload.isoformat()

        def from_json(self, data: Any, /) -> dt.date:
            return dt.date.fromisoformat(data)

    queue = make_queue(codec=DateCodec())
    await queue.put(dt.date(2026, 11, 30))
    job = await queue.get()
    assert job is not None and job.payload == dt.date(2026, 11, 30)
    assert job.data == "2026-11-30"


async def test_a_plain_queue_takes_json_values(make_queue: MakeQueue) -> None:
    queue = make_queue()
    assert isinstance(queue.codec, JsonCodec)
    await queue.put({"b": [1, 2], "a": None})
    job = await queue.get()
    assert job is not None and job.payload == job.data == {"a": None, "b": [1, 2]}


@pytest.mark.parametrize(
    ("kwargs", "error", "message"),
    [
        ({"payload_type": dict}, TypeError, "payload_type must be a dataclass or a pydantic"),
        ({"payload_type": Email, "codec": JsonCodec()}, ValueError, "not both"),
        ({"codec": object()}, TypeError, "codec must have to_json and from_json methods"),
    ],
)
def test_bad_codec_arguments_are_refused(
    kwargs: dict[str, Any], error: type[Exception], message: str
) -> None:
    with pytest.raises(error, match=message):
        RedisJobQueue("q", **kwargs)


def test_codecs_refuse_types_they_cannot_handle() -> None:
    with pytest.raises(TypeError, match="DataclassCodec needs a dataclass type, got <class 'int'>"):
        DataclassCodec(int)
    with pytest.raises(TypeError, match="PydanticCodec needs a pydantic model class, got"):
        PydanticCodec(Email)  # type: ignore[type-var]
    with pytest.raises(TypeError, match="stored JSON does not fit Address"):
        DataclassCodec(Address).from_json({"name": "Ada"})


def test_mypy_sees_the_payload_type(project_root: Path) -> None:
    # assert_type() fails the check where a type is not the one written, and each
    # "type: ignore" must be needed (mypy --strict warns of unused ones)
    checked = project_root / "tests" / "typing" / "payloads.py"
    result = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", str(checked)],
        capture_output=True,
        text=True,
        cwd=project_root,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "Success: no issues found in 1 source file" in result.stdout
