"""aioredisjobqueue: an asyncio job queue on Redis with unique jobs and expiring locks.

``RedisJobQueue`` puts and takes jobs; ``Worker`` runs a handler on them with lock renewal,
retries and graceful stop. The public modules ``aioredisjobqueue.cli`` (the command line),
``aioredisjobqueue.testing`` (pytest fixtures and helpers), ``aioredisjobqueue.metrics``
(Prometheus metrics, the ``[metrics]`` extra) and ``aioredisjobqueue.otel`` (OpenTelemetry
spans, the ``[otel]`` extra) are imported by name.
"""

from ._codec import job_id
from ._errors import (
    DeadJobError,
    DuplicateJobError,
    JobNotFoundError,
    JobQueueError,
    LockLostError,
    NotReplicatedError,
    ShardsMismatchError,
)
from ._heartbeat import WorkerInfo
from ._job import Job
from ._jsonlog import JsonFormatter
from ._lifespan import current_job, worker_state
from ._outcome import DoNotRetry, RetryAfter
from ._payloads import DataclassCodec, JsonCodec, PayloadCodec, PydanticCodec
from ._periodic import Periodic
from ._queue import RedisJobQueue
from ._records import DeadLetter, QueueStats, WaitingJob
from ._registry import Task, Tasks
from ._status import JobStatus
from .worker import JobEvent, Worker

__all__ = [
    "DataclassCodec",
    "DeadJobError",
    "DeadLetter",
    "DoNotRetry",
    "DuplicateJobError",
    "Job",
    "JobEvent",
    "JobNotFoundError",
    "JobQueueError",
    "JobStatus",
    "JsonCodec",
    "JsonFormatter",
    "LockLostError",
    "NotReplicatedError",
    "PayloadCodec",
    "Periodic",
    "PydanticCodec",
    "QueueStats",
    "RedisJobQueue",
    "RetryAfter",
    "ShardsMismatchError",
    "Task",
    "Tasks",
    "WaitingJob",
    "Worker",
    "WorkerInfo",
    "current_job",
    "job_id",
    "worker_state",
]

__version__ = "0.1.0"
