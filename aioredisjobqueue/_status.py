"""JobStatus: where one job is (``queue.status(job_id)``), and the bound on kept errors."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Literal

__all__ = ["MAX_ERROR_CHARS", "JobState", "JobStatus", "bound_error", "parse_status"]

JobState = Literal["waiting", "delayed", "locked", "dead", "completed"]

# How much of a job's last error is kept: enough for an exception's type and message.
MAX_ERROR_CHARS = 2000


@dataclass(frozen=True, slots=True)
class JobStatus:
    """Where a job is, by the Redis server's clock (times are Unix seconds).

    ``state`` is one of:

    - ``"waiting"``: due, for the next consumer; ``due_at`` is when it became due (for a
      job whose lock expired without anyone taking it yet, when the lock expired), or None
      for a job in the ready list (put, released or requeued due at once): ``status()``
      knows it is there in O(1), and only a scan of the list would tell since when
      (``peek()`` shows it for the jobs at the head);
    - ``"delayed"``: due at ``due_at``, later;
    - ``"locked"``: held by a consumer whose lock expires at ``lock_expires_at``;
    - ``"dead"``: dead-lettered at ``died_at``;
    - ``"completed"``: completed at ``completed_at`` and its result is kept (a job completed
      without a result, or whose result expired, is unknown: ``status()`` returns None).

    ``deliveries`` counts how often it was taken; ``last_error`` is the error its last
    failure was released or dead-lettered with (None if none was given, and once completed).
    """

    id: str
    state: JobState
    deliveries: int
    last_error: str | None = None
    due_at: float | None = None
    lock_expires_at: float | None = None
    died_at: float | None = None
    completed_at: float | None = None


_TIME_FIELD = {
    "waiting": "due_at",
    "delayed": "due_at",
    "locked": "lock_expires_at",
    "dead": "died_at",
    "completed": "completed_at",
}


def _text(value: bytes | str) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def parse_status(job_id: str, reply: list[Any] | None) -> JobStatus | None:
    """The JobStatus of status.lua's reply: [state, deliveries, time µs or nil, error or nil]."""
    if reply is None:
        return None
    state, deliveries, at_us, error = reply
    name = _text(state)
    seconds = None if at_us is None else int(float(at_us)) / 1_000_000
    return JobStatus(
        id=job_id,
        state=name,  # type: ignore[arg-type]  # one of JobState, as status.lua answers
        deliveries=int(deliveries),
        last_error=None if error is None else _text(error),
        **{_TIME_FIELD[name]: seconds},
    )


def bound_error(error: object, name: str = "error") -> str:
    """The error text to keep: ``error`` (a str, or None for none: ``""``) cut to at most
    ``MAX_ERROR_CHARS`` characters, marked where it was cut.

    Raises ``TypeError`` for anything but a str or None.
    """
    if error is None:
        return ""
    if not isinstance(error, str):
        raise TypeError(f"{name} must be a str or None, got {error!r}")
    if len(error) <= MAX_ERROR_CHARS:
        return error
    dropped = len(error) - MAX_ERROR_CHARS
    while True:  # the marker's length depends on the count it shows: two turns at most
        marker = f"... [{dropped} more characters cut]"
        keep = MAX_ERROR_CHARS - len(marker)
        if len(error) - keep == dropped:
            return error[:keep] + marker
        dropped = len(error) - keep
