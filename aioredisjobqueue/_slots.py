"""Slots: the handler slots of a Worker, each running the jobs its feed hands out.

A slot runs one job at a time: the ``"start"`` event, the handler (under its timeout, and
cancelled if its lock is lost or the worker stops), then the outcome. A handler that returns
has its completion sent with the feed's next take, and the slot goes on to its next job at
once; its ``"complete"`` event is counted when Redis confirms. With ``on_event`` hooks the
slot waits for that confirmation and emits the outcome itself, so that every hook hears a
job's events in the task its handler ran in (a tracing span stays current there). Other
outcomes (retry, dead letter, stop) are settled by the slot (``_settle``).
"""

from __future__ import annotations

import asyncio
import inspect
import logging
import time
from collections import Counter
from collections.abc import Sequence
from typing import Any

import anyio

from . import _settle
from ._events import EventHook, JobEvent
from ._feed import Feed
from ._handler import Handler
from ._lifespan import CURRENT_JOB
from ._link import NO_RESULT
from ._logfields import event_fields
from ._running import Running
from ._scripts import Completion
from ._tasks import cancel_requested

__all__ = ["Slots"]

logger = logging.getLogger("aioredisjobqueue")


class Slots:
    """What the handler slots of one Worker share: the jobs running, the events counted.

    ``running`` holds each job from its handler's start until its outcome is recorded;
    ``idle`` is set while it is empty.
    """

    def __init__(self, handler: Handler, hooks: Sequence[EventHook], worker_id: str) -> None:
        self._handler = handler
        self._hooks = tuple(hooks)
        self._worker_id = worker_id
        self.counts: Counter[str] = Counter()
        self.running: set[Running] = set()
        self.idle = anyio.Event()
        self.idle.set()

    async def run(self, feed: Feed) -> None:
        """One slot: run the jobs ``feed`` hands it, one after another, until cancelled."""
        while True:
            running = await feed.next()
            if running.lock_lost:  # lost while it waited for a slot: it never started
                _settle.lock_lost(running, 0.0, None)
                continue
            if not self.running:
                self.idle = anyio.Event()
            self.running.add(running)
            await self._handle(running, feed)

    def stop_handlers(self) -> None:
        """Cancel the handlers still running: their jobs are given back, uncounted."""
        for running in self.running:
            if not running.finished:
                running.stopped = True
                running.cancel_handler()

    async def _handle(self, running: Running, feed: Feed) -> None:
        settling = False
        try:
            await self._emit(JobEvent("start", running.job))
            started = time.monotonic()
            error, result = await self._call(running)
            running.finished = True
            duration = time.monotonic() - started
            completion = None
            if error is None and not running.lock_lost and not running.stopped:
                completion, error = _completion(running, result)
            if completion is None:  # a failure, a stop, a lost lock: settled here
                event = await _settle.settle(running, duration, error, result)
            elif self._hooks:  # they hear the outcome in this task, once Redis confirmed it
                outcome = await self._complete(running, completion, feed)
                event = _settle.completed(running, duration, outcome)
            else:  # counted when Redis confirms it; the slot goes on now
                settling = True
                self._complete_soon(running, completion, duration, feed)
                return
            if event is not None:
                await self._emit(event)
        finally:
            if not settling:
                self.done(running)

    async def _call(self, running: Running) -> tuple[BaseException | None, Any]:
        """Run the handler on ``running``'s job: (the error it raised or None, its result)."""
        job = running.job
        error: BaseException | None = None
        result: Any = None
        token = CURRENT_JOB.set(job)
        # the handler's scope: its timeout, and how a lost lock or a stop cancels it
        # (asyncio's own: an anyio CancelScope costs a job more than its round trip)
        running.handler_scope = scope = asyncio.timeout(running.options.timeout)
        try:
            async with scope:
                if running.stopped:  # stopped before it could start
                    running.cancel_handler()
                try:
                    result = await self._handler(job)
                except Exception as exc:
                    error = exc
                except asyncio.CancelledError as exc:
                    if cancel_requested():
                        raise  # its scope's, the worker's own, or its task's
                    # raised by the handler itself, nobody cancelled it: a failure
                    error = exc
        except TimeoutError as exc:  # its scope ended it: a timeout, or a lost lock or stop
            if not (running.lock_lost or running.stopped):
                error = exc
        finally:
            running.handler_scope = None
            CURRENT_JOB.reset(token)
        return error, result

    def _complete_soon(
        self, running: Running, completion: Completion, duration: float, feed: Feed
    ) -> None:
        """Send ``completion`` with the feed's next take; count its outcome when it comes."""

        def settled(outcome: bool | BaseException) -> None:
            event = _settle.completed(running, duration, outcome)
            if event is not None:
                self._note(event)
            self.done(running)

        running.link.complete_soon(completion, running.lock_until, settled)
        feed.poke()

    @staticmethod
    async def _complete(
        running: Running, completion: Completion, feed: Feed
    ) -> bool | BaseException:
        """Send ``completion`` with the feed's next take and wait for its outcome."""
        outcome: asyncio.Future[bool | BaseException] = asyncio.Future()

        def settled(told: bool | BaseException) -> None:
            if not outcome.done():  # else its slot was cancelled meanwhile
                outcome.set_result(told)

        running.link.complete_soon(completion, running.lock_until, settled)
        feed.poke()
        return await outcome

    def done(self, running: Running) -> None:
        """``running`` has its outcome recorded (or given up on)."""
        self.running.discard(running)
        if not self.running:
            self.idle.set()

    def _note(self, event: JobEvent) -> None:
        """Count ``event`` and log it (at debug level)."""
        self.counts[event.kind] += 1
        if logger.isEnabledFor(logging.DEBUG):
            logger.debug(
                "job %s of queue %r: %s",
                event.job.id,
                event.job.queue.name,
                event.kind,
                extra=event_fields(event, self._worker_id),
            )

    async def _emit(self, event: JobEvent) -> None:
        self._note(event)
        for hook in self._hooks:
            try:
                result = hook(event)
                if inspect.isawaitable(result):
                    await result
            except Exception:
                logger.exception(
                    "on_event raised for the %s of job %s",
                    event.kind,
                    event.job.id,
                    extra=event_fields(event, self._worker_id),
                )


def _completion(running: Running, result: Any) -> tuple[Completion | None, BaseException | None]:
    """What completing ``running``'s job sends, or the error that keeps it from being sent
    (a result JSON cannot hold, to be settled as a failure)."""
    options = running.options
    try:
        kept = result if options.keep_result else NO_RESULT
        return running.link.completion(running.job, kept, options.result_ttl), None
    except (TypeError, ValueError) as exc:
        return None, exc
