"""Periodic jobs: a job queued on each tick of a schedule, once per tick across replicas.

Every Worker given a schedule queues its ticks; each tick is queued once however many
workers run, because ``tick.lua`` records the schedule's last tick queued and refuses a
tick at or before it (a tick already queued or run, or a late replica's), and because the
tick's payload names the tick, so its content identity makes a re-put of it a no-op. A
worker that starts late queues the next tick, not the ones it missed, unless the schedule
has ``catch_up``.

Ticks of ``every=N`` seconds fall on multiples of N seconds since the Unix epoch, so all
replicas agree on them; ``cron=`` ticks follow a five-field cron expression in UTC.
"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Callable, Iterator, Sequence
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

import anyio
from cronsim import CronSim, CronSimError

from . import _args, _codec
from ._transient import CAUGHT, is_transient

if TYPE_CHECKING:
    from ._link import QueueLink

__all__ = ["HasSchedules", "Periodic", "check_schedules", "run_schedules", "tick_name"]

logger = logging.getLogger("aioredisjobqueue")

# At most this many missed ticks are queued by a schedule with catch_up, the latest ones.
MAX_CATCH_UP = 100


def tick_name(tick: datetime) -> str:
    """A tick as its jobs name it: ISO 8601 UTC, to the millisecond."""
    return tick.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class Periodic:
    """A job queued on every tick of a schedule: ``every`` seconds, or a ``cron`` expression.

    ``payload`` is the job's content: a JSON value, queued as ``{"periodic": name, "tick":
    "2026-11-30T04:05:00.000Z", "payload": payload}``, or a function of the tick (a UTC
    ``datetime``) returning the whole payload, which should name the tick. ``queue`` is the
    name of the Worker's queue that gets the jobs (default: its first). With ``catch_up``, a
    worker that starts after ticks were missed (no worker ran) queues them too, at most
    ``MAX_CATCH_UP``, latest last.

    Raises ``ValueError`` for a bad name, both or neither of ``every`` and ``cron``, a
    ``cron`` expression ``cronsim`` cannot parse, or a payload JSON cannot hold.
    """

    def __init__(
        self,
        name: str,
        payload: Any = None,
        *,
        every: float | timedelta | None = None,
        cron: str | None = None,
        catch_up: bool = False,
        queue: str | None = None,
    ) -> None:
        if not isinstance(name, str) or not name:
            raise ValueError(f"name must be a non-empty str, got {name!r}")
        if (every is None) == (cron is None):
            raise ValueError(f"periodic {name!r}: give either every= or cron=, not both or none")
        if isinstance(every, timedelta):
            every = every.total_seconds()
        self.name = name
        self.every = None if every is None else _args.positive_seconds(every, "every")
        if self.every is not None and self.every < 0.001:
            # ticks are named to the millisecond: a shorter step would name two ticks alike
            raise ValueError(f"every must be at least 0.001 seconds, got {every!r}")
        self.cron = cron
        if cron is not None:
            try:
                CronSim(cron, datetime.now(UTC))
            except (CronSimError, TypeError) as exc:
                raise ValueError(
                    f"periodic {name!r}: bad cron expression {cron!r}: {exc}"
                ) from None
        self.catch_up = bool(catch_up)
        self.queue = queue
        self._payload = payload
        if not callable(payload):
            _codec.encode(payload)

    def payload_for(self, tick: datetime) -> Any:
        """The payload of the job of ``tick``."""
        if callable(self._payload):
            return self._payload(tick)
        return {"periodic": self.name, "tick": tick_name(tick), "payload": self._payload}

    def ticks_after(self, moment: datetime) -> Iterator[datetime]:
        """The ticks after ``moment`` (UTC), in order, without end."""
        if self.every is not None:
            step = self.every
            k = math.floor(moment.timestamp() / step) + 1
            while True:
                yield datetime.fromtimestamp(k * step, UTC)
                k += 1
        assert self.cron is not None
        yield from CronSim(self.cron, moment.astimezone(UTC))

    def __repr__(self) -> str:
        how = f"every={self.every:g}" if self.every is not None else f"cron={self.cron!r}"
        return f"Periodic({self.name!r}, {how})"


@runtime_checkable
class HasSchedules(Protocol):
    """A handler that brings periodic schedules of its own (``Tasks`` does)."""

    @property
    def periodic(self) -> list[Periodic]: ...


def check_schedules(schedules: Sequence[Periodic], queue_names: Sequence[str]) -> list[Periodic]:
    """``schedules``, each with a name of its own and a queue of the Worker's."""
    names: set[str] = set()
    for schedule in schedules:
        if not isinstance(schedule, Periodic):
            raise TypeError(f"periodic must hold Periodic schedules, got {schedule!r}")
        if schedule.name in names:
            raise ValueError(f"two periodic schedules are named {schedule.name!r}")
        names.add(schedule.name)
        if schedule.queue is not None and schedule.queue not in queue_names:
            raise ValueError(
                f"periodic {schedule.name!r}: queue {schedule.queue!r} is none of the "
                f"worker's queues {list(queue_names)}"
            )
    return list(schedules)


async def run_schedules(
    schedules: Sequence[Periodic],
    link_for: Callable[[Periodic], QueueLink],
    clock: Callable[[], float] = time.time,
) -> None:
    """Queue every tick of ``schedules`` when it comes, until cancelled."""
    if not schedules:
        return
    async with anyio.create_task_group() as group:
        for schedule in schedules:
            group.start_soon(_run_one, schedule, link_for(schedule), clock)


async def _run_one(schedule: Periodic, link: QueueLink, clock: Callable[[], float]) -> None:
    start = datetime.fromtimestamp(clock(), UTC)
    if schedule.catch_up:
        await _catch_up(schedule, link, start)
    for tick in schedule.ticks_after(start):
        await anyio.sleep(max(0.0, tick.timestamp() - clock()))
        await _queue_tick(schedule, link, tick)


async def _catch_up(schedule: Periodic, link: QueueLink, now: datetime) -> None:
    try:
        last = await link.last_tick(schedule.name)
    except CAUGHT as exc:
        if not is_transient(exc):
            raise
        logger.warning("periodic %r: cannot catch up, Redis unavailable: %r", schedule.name, exc)
        return
    if last is None:
        return
    missed: list[datetime] = []
    for tick in schedule.ticks_after(datetime.fromtimestamp(last, UTC)):
        if tick > now:
            break
        missed = [*missed[-(MAX_CATCH_UP - 1) :], tick]
    for tick in missed:
        await _queue_tick(schedule, link, tick)


async def _queue_tick(schedule: Periodic, link: QueueLink, tick: datetime) -> None:
    """Queue the job of ``tick`` unless a worker did already; a tick Redis could not be
    reached for is tried again for a while, then skipped (logged)."""
    for attempt in range(5):
        try:
            queued = await link.put_tick(schedule.name, tick, schedule.payload_for(tick))
        except CAUGHT as exc:
            if not is_transient(exc):
                raise
            if attempt == 4:
                logger.warning(
                    "periodic %r: tick %s skipped, Redis unavailable: %r",
                    schedule.name,
                    tick_name(tick),
                    exc,
                )
                return
            await anyio.sleep(0.2 * 2**attempt)
            continue
        logger.debug(
            "periodic %r: tick %s %s",
            schedule.name,
            tick_name(tick),
            "queued" if queued else "queued by another worker already",
        )
        return
