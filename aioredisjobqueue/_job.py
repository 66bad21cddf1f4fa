"""Job: one locked job as a consumer holds it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from ._results import NO_RESULT

if TYPE_CHECKING:
    from ._queue import RedisJobQueue

__all__ = ["Job"]


class Job:
    """A job taken from a queue under a lock.

    ``payload`` is the JSON value that was put (object keys as strings, sorted), so
    ``job_id(job.payload) == job.id``; ``get()`` returns it too, as in python-redisjobqueue.
    ``deliveries`` is 1 on the first get and grows by one each time the job is taken again
    after its lock expired or it was released.
    The lock is held by this object's token: ``complete``, ``extend`` and ``release``
    raise ``LockLostError`` once another consumer has taken the job.
    """

    __slots__ = ("_queue", "_token", "deliveries", "id", "payload")

    def __init__(
        self, queue: RedisJobQueue, job_id: str, payload: Any, deliveries: int, token: str
    ) -> None:
        self._queue = queue
        self.id = job_id
        self.payload = payload
        self.deliveries = deliveries
        self._token = token

    @property
    def queue(self) -> RedisJobQueue:
        """The queue the job was taken from."""
        return self._queue

    @property
    def token(self) -> str:
        """The lock token this job was taken under (its fencing token)."""
        return self._token

    def get(self) -> Any:
        """Return the payload."""
        return self.payload

    async def complete(self, result: Any = NO_RESULT, result_ttl: float | None = None) -> None:
        """Remove the job from the queue for good; after that, equal content may be put again.

        With ``result`` (any JSON value, None included), keep it for ``result_ttl`` seconds
        (default: the queue's) for ``queue.result(job_id)``. Raises ``LockLostError`` if
        another consumer holds the job now (or it is gone).
        """
        await self._queue.complete(self, result=result, result_ttl=result_ttl)

    async def extend(self, lock_timeout: float) -> None:
        """Hold the lock for ``lock_timeout`` ms from now (server clock).

        Raises ``LockLostError`` if another consumer took the job.
        """
        await self._queue.extend(self, lock_timeout=lock_timeout)

    async def release(self, delay: float = 0.0, *, error: str | None = None) -> None:
        """Give the job back without completing it; due again after ``delay`` seconds.

        ``error`` (what it failed with) becomes its last error, cut to 2,000 characters.
        With the queue's ``max_deliveries`` reached, the job goes to the dead letters instead.
        Raises ``LockLostError`` if another consumer took the job.
        """
        await self._queue.release(self, delay=delay, error=error)

    async def dead_letter(self, error: str | None = None) -> None:
        """Move the job to the dead letters at once (a failure no retry can mend), with
        ``error`` as its last error. Raises ``LockLostError`` if another consumer took it."""
        await self._queue.dead_letter(self, error=error)

    def __repr__(self) -> str:
        return (
            f"Job(queue={self._queue.name!r}, id={self.id!r}, "
            f"deliveries={self.deliveries}, payload={self.payload!r})"
        )
