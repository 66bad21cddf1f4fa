"""JsonFormatter: one JSON object per record, with the fields the library passes."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator

import pytest
from conftest import MakeQueue
from helpers import eventually
from test_worker import running

from aioredisjobqueue import JsonFormatter, Tasks, Worker


@pytest.fixture
def json_lines() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    logger = logging.getLogger("aioredisjobqueue")
    level = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.DEBUG)
    try:
        yield stream
    finally:
        logger.removeHandler(handler)
        logger.setLevel(level)


async def test_a_failing_tasks_log_lines_carry_its_task_and_job(
    make_queue: MakeQueue, json_lines: io.StringIO
) -> None:
    queue = make_queue()
    tasks = Tasks()

    @tasks.task
    async def charge(amount: int) -> None:
        raise RuntimeError(f"card declined for {amount}")

    job_id = await charge.put(queue, amount=5)
    worker = Worker(queue, tasks, retry_delay=60, retry_max_delay=60)
    async with running(worker):
        await eventually(lambda: worker.counts.get("retry") == 1)
    records = [json.loads(line) for line in json_lines.getvalue().splitlines()]
    retry = next(r for r in records if r["level"] == "warning" and r.get("event") == "retry")
    assert (retry["queue"], retry["job_id"], retry["task"]) == (queue.name, job_id, "charge")
    assert retry["delivery"] == 1
    assert retry["error"] == "RuntimeError: card declined for 5"
    assert retry["retry_in"] <= 60 and retry["duration"] >= 0
    assert "RuntimeError: card declined for 5" in retry["traceback"]
    started = next(r for r in records if "started" in r["message"])
    assert started["worker"] == worker.id and started["queue"] == queue.name


def test_extras_of_any_log_call_become_keys_and_odd_values_strings() -> None:
    record = logging.LogRecord("app", logging.INFO, __file__, 1, "hello %s", ("you",), None)
    record.order = {"id": 7}
    record.when = object()
    line = json.loads(JsonFormatter().format(record))
    assert line["message"] == "hello you" and line["level"] == "info" and line["logger"] == "app"
    assert line["order"] == {"id": 7}
    assert line["when"].startswith("<object object")
    assert line["time"].endswith("+00:00")
