"""Checked by mypy --strict in tests/test_payloads.py, never run: the payload type flows
from the queue to put, get, consume, the Worker's handler and job.payload."""

from __future__ import annotations

import dataclasses
from typing import Any, assert_type

import pydantic

from aioredisjobqueue import (
    DataclassCodec,
    Job,
    PydanticCodec,
    RedisJobQueue,
    WaitingJob,
    Worker,
)


@dataclasses.dataclass
class Email:
    to: str
    subject: str


class Thumbnail(pydantic.BaseModel):
    url: str
    width: int


async def send(job: Job[Email]) -> None:
    assert_type(job.payload, Email)
    assert_type(job.payload.to, str)


async def main() -> None:
    emails = RedisJobQueue("emails", payload_type=Email)
    assert_type(emails, RedisJobQueue[Email])
    await emails.put(Email("a@example.org", "hi"))
    await emails.put({"to": "a@example.org"})  # type: ignore[arg-type]
    await emails.put_many([Email("b@example.org", "hi")])
    job = await emails.get()
    assert job is not None
    assert_type(job, Job[Email])
    assert_type(job.payload, Email)
    assert_type(job.get(), Email)
    assert_type(job.queue, RedisJobQueue[Email])
    assert_type(await emails.get_many(10), list[Job[Email]])
    async for taken in emails.consume():
        assert_type(taken.payload.subject, str)
    assert_type(await emails.peek(), list[WaitingJob])  # inspection shows stored JSON

    # a codec gives the type too, and a subscript says it up front
    also = RedisJobQueue("emails", codec=DataclassCodec(Email))
    assert_type(also, RedisJobQueue[Email])
    typed: RedisJobQueue[Email] = RedisJobQueue[Email]("emails", codec=DataclassCodec(Email))
    assert_type(typed, RedisJobQueue[Email])
    wrong: RedisJobQueue[Email] = RedisJobQueue("x", payload_type=Thumbnail)  # type: ignore[arg-type]
    del wrong

    thumbs = RedisJobQueue("thumbs", codec=PydanticCodec(Thumbnail))
    assert_type(thumbs, RedisJobQueue[Thumbnail])
    thumb_job = await thumbs.get()
    assert thumb_job is not None
    assert_type(thumb_job.payload.width, int)

    # the Worker runs a handler typed for the queue's payload
    Worker(emails, send)

    # a plain queue takes and gives JSON values
    plain = RedisJobQueue("plain")
    assert_type(plain, RedisJobQueue[Any])
    await plain.put({"any": ["json", 1]})
    plain_job = await plain.get()
    assert plain_job is not None
    assert_type(plain_job.payload, Any)
