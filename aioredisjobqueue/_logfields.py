"""What a log record is about, as ``extra=`` fields: for structured (JSON) logs.

``JsonFormatter`` writes them as keys of the line; a text format leaves them out.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from ._events import JobEvent
    from ._job import Job

__all__ = ["event_fields", "job_fields", "task_name", "worker_fields"]


def task_name(job: Job) -> str | None:
    """The task of a job of a ``Tasks`` registry (its JSON is ``{"task": name, ...}``), or
    None for a job of no task."""
    data = job.data
    name = data.get("task") if isinstance(data, dict) else None
    return name if isinstance(name, str) else None


def job_fields(
    job: Job, *, duration: float | None = None, error: object = None
) -> dict[str, object]:
    """queue, job_id, delivery; duration (s) and error where given."""
    fields: dict[str, object] = {"queue": job.queue.name, "job_id": job.id}
    fields["delivery"] = job.deliveries
    task = task_name(job)
    if task is not None:
        fields["task"] = task
    if duration is not None:
        fields["duration"] = round(duration, 6)
    if isinstance(error, BaseException):
        error = f"{type(error).__qualname__}: {error}" if str(error) else type(error).__qualname__
    if error is not None:
        fields["error"] = error
    return fields


def event_fields(event: JobEvent, worker_id: str | None = None) -> dict[str, object]:
    """The fields of a job's event: its job's, the kind as ``event``, ``retry_in`` (s)."""
    fields = job_fields(event.job, duration=event.duration, error=event.error)
    fields["event"] = event.kind
    if event.retry_in is not None:
        fields["retry_in"] = round(event.retry_in, 6)
    if worker_id is not None:
        fields["worker"] = worker_id
    return fields


def worker_fields(worker_id: str, queues: Sequence[str]) -> dict[str, object]:
    """worker (its id) and queue (one name, or the list of them)."""
    return {"worker": worker_id, "queue": queues[0] if len(queues) == 1 else list(queues)}
