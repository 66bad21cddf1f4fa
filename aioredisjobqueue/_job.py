"""Job: one locked job as a consumer holds it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Generic

from ._payloads import P
from ._results import NO_RESULT

if TYPE_CHECKING:
    from ._poll import Poller
    from ._queue import RedisJobQueue

__all__ = ["Job"]

_UNREAD: Any = object()


class Job(Generic[P]):
    """A job taken from a queue under a lock; ``Job[P]`` on a ``RedisJobQueue[P]``.

    ``payload`` is the payload that was put, as the queue's codec reads it from the stored
    JSON: on a plain queue the JSON value (object keys as strings, sorted), so
    ``job_id(job.payload) == job.id`` for a job put without a key; on a queue with a
    ``payload_type`` or ``codec`` an instance of that type, read on first access (a stored
    value the codec refuses raises there, so a Worker retries it as a failure). ``data`` is
    the stored JSON value itself. ``get()`` returns the payload too, as in
    python-redisjobqueue. ``deliveries`` is 1 on the first get and grows by one each time
    the job is taken again after its lock expired or it was released. ``pickup_delay`` is
    how long the job had been due when this delivery took it, in seconds by the Redis
    server's clock (since its put, its delay's or retry's end, or the expiry of an earlier
    delivery's lock).
    The lock is held by this object's token: ``complete``, ``extend`` and ``release``
    raise ``LockLostError`` once another consumer has taken the job.
    """

    __slots__ = (
        "_loop",
        "_payload",
        "_queue",
        "_token",
        "data",
        "deliveries",
        "id",
        "pickup_delay",
    )

    def __init__(
        self,
        queue: RedisJobQueue[P],
        job_id: str,
        data: Any,
        deliveries: int,
        token: str,
        *,
        pickup_delay: float = 0.0,
    ) -> None:
        self._queue = queue
        self.id = job_id
        self.data = data
        self._payload: P = _UNREAD
        self.deliveries = deliveries
        self._token = token
        self.pickup_delay = pickup_delay
        self._loop: Poller | None = None  # the consume() loop that has it out

    @property
    def payload(self) -> P:
        """The payload, as the queue's codec reads it from ``data`` (once)."""
        if self._payload is _UNREAD:
            self._payload = self._queue.codec.from_json(self.data)
        return self._payload

    @property
    def queue(self) -> RedisJobQueue[P]:
        """The queue the job was taken from."""
        return self._queue

    @property
    def token(self) -> str:
        """The lock token this job was taken under (its fencing token)."""
        return self._token

    def get(self) -> P:
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
            f"deliveries={self.deliveries}, data={self.data!r})"
        )
