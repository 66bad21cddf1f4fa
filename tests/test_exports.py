import aioredisjobqueue

# public modules, for what users run: they are imported by name, not re-exported
PUBLIC_MODULES = {"cli", "metrics", "otel", "testing", "web", "worker"}


def test_all_is_exactly_the_public_surface() -> None:
    public = {name for name in dir(aioredisjobqueue) if not name.startswith("_")}
    assert set(aioredisjobqueue.__all__) == public - PUBLIC_MODULES
    assert sorted(aioredisjobqueue.__all__) == [
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


def test_every_public_name_has_a_docstring() -> None:
    for name in aioredisjobqueue.__all__:
        assert getattr(aioredisjobqueue, name).__doc__, name


def test_errors_share_one_root() -> None:
    assert issubclass(aioredisjobqueue.DuplicateJobError, aioredisjobqueue.JobQueueError)
    assert issubclass(aioredisjobqueue.LockLostError, aioredisjobqueue.JobQueueError)
    assert issubclass(aioredisjobqueue.NotReplicatedError, aioredisjobqueue.JobQueueError)
    assert issubclass(aioredisjobqueue.JobNotFoundError, aioredisjobqueue.JobQueueError)
    assert issubclass(aioredisjobqueue.DeadJobError, aioredisjobqueue.JobQueueError)
