"""The errors of aioredisjobqueue, all under one root.

    JobQueueError
    ├── DuplicateJobError    put() of content (or a key) that is already in the queue
    ├── LockLostError        extend/release/complete by a consumer that no longer holds the job
    ├── JobNotFoundError     result() of a job the queue neither holds nor keeps a result of
    ├── DeadJobError         result() of a job that is in the dead letters
    ├── NotReplicatedError   put() with min_replicas: fewer replicas confirmed the job in time
    └── ShardsMismatchError  a queue opened with another number of shards than it has

Bad arguments raise the built-in ``ValueError`` or ``TypeError`` before anything
reaches Redis; connection failures surface as ``redis.exceptions`` errors.
"""

from __future__ import annotations

__all__ = [
    "DeadJobError",
    "DuplicateJobError",
    "JobNotFoundError",
    "JobQueueError",
    "LockLostError",
    "NotReplicatedError",
    "ShardsMismatchError",
]


class JobQueueError(Exception):
    """The root of every error this library raises of its own."""

    def __init__(self, message: str, *, queue_name: str) -> None:
        super().__init__(message)
        self.queue_name = queue_name


class DuplicateJobError(JobQueueError):
    """Content equal to the payload is already in the queue (waiting, delayed, locked or dead).

    ``job_id`` is the id of the job already queued, which is the id of the payload.
    """

    def __init__(self, *, queue_name: str, job_id: str) -> None:
        super().__init__(f"job {job_id} is already in queue {queue_name!r}", queue_name=queue_name)
        self.job_id = job_id


class LockLostError(JobQueueError):
    """The caller's lock on a job is gone: another consumer holds it now, or it was completed.

    Raised by ``extend``, ``release`` and ``complete``; the job is left as it is, with
    whoever holds it now.
    """

    def __init__(self, *, queue_name: str, job_id: str, action: str) -> None:
        super().__init__(
            f"cannot {action} job {job_id} in queue {queue_name!r}: the lock is lost "
            "(it expired and another consumer took the job, or the job is gone)",
            queue_name=queue_name,
        )
        self.job_id = job_id
        self.action = action


class JobNotFoundError(JobQueueError):
    """``result()`` of a job that is not in the queue and has no result kept: never put,
    completed without a result, its result expired, or cancelled. ``job_id`` names it."""

    def __init__(self, *, queue_name: str, job_id: str) -> None:
        super().__init__(
            f"job {job_id} is not in queue {queue_name!r} and no result of it is kept "
            "(never put, completed without a result, result expired, or cancelled)",
            queue_name=queue_name,
        )
        self.job_id = job_id


class DeadJobError(JobQueueError):
    """``result()`` of a job in the dead letters: it will not run again unless requeued.

    ``job_id`` names it; ``error`` is its last error (None if none was kept).
    """

    def __init__(self, *, queue_name: str, job_id: str, error: str | None) -> None:
        reason = f": {error.strip().splitlines()[-1]}" if error and error.strip() else ""
        super().__init__(
            f"job {job_id} of queue {queue_name!r} is dead-lettered{reason}",
            queue_name=queue_name,
        )
        self.job_id = job_id
        self.error = error


class NotReplicatedError(JobQueueError):
    """Fewer than the queue's ``min_replicas`` replicas confirmed a put within
    ``replica_timeout``: the jobs are queued on the primary, but a failover before they
    reach a replica would lose them. The caller decides: put again later (a duplicate
    means it is still there), or accept the risk.

    ``job_ids`` are the jobs that were queued (for ``put``, one); ``replicas`` how many
    replicas confirmed them, of the ``wanted``.
    """

    def __init__(self, *, queue_name: str, job_ids: list[str], replicas: int, wanted: int) -> None:
        super().__init__(
            f"{len(job_ids)} job(s) queued in queue {queue_name!r} reached {replicas} of "
            f"{wanted} replicas in time: a failover now would lose them",
            queue_name=queue_name,
        )
        self.job_ids = job_ids
        self.replicas = replicas
        self.wanted = wanted


class ShardsMismatchError(JobQueueError):
    """The queue was opened with ``shards=given``, but Redis holds it with ``stored``
    shards (1: a queue that is not sharded). Nothing was changed: open it with
    ``shards=stored`` (a queue's number of shards never changes)."""

    def __init__(self, *, queue_name: str, stored: int, given: int) -> None:
        super().__init__(
            f"queue {queue_name!r} has shards={stored} in Redis, but was opened with "
            f"shards={given}: open it with shards={stored} (a queue's shards never change)",
            queue_name=queue_name,
        )
        self.stored = stored
        self.given = given
