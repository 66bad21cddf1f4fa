"""Once: a first-call step (a check, a question to the server) that concurrent first
callers share.

Every caller that comes while the step runs awaits the same run and resumes with the
others, in one turn of the event loop: they reach what comes next (a batcher) together,
as one batch, where an ``asyncio.Lock`` would let them through one turn at a time. A
failure is raised to each of them, and the next call runs the step again; a caller
cancelled while waiting leaves the step to the others.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

__all__ = ["Once"]


class Once:
    """Runs ``step`` until it succeeds once; ``done`` from then on."""

    __slots__ = ("_run", "_step", "done")

    def __init__(self, step: Callable[[], Awaitable[None]]) -> None:
        self._step = step
        self._run: asyncio.Task[None] | None = None
        self.done = False

    async def __call__(self) -> None:
        """Run the step, or wait for the run under way; return once it succeeded."""
        if self.done:
            return
        run = self._run
        if run is None:
            run = self._run = asyncio.ensure_future(self._once())
            run.add_done_callback(_retrieve)
        await asyncio.shield(run)

    async def _once(self) -> None:
        try:
            await self._step()
            self.done = True
        finally:
            self._run = None


def _retrieve(run: asyncio.Task[None]) -> None:
    # a run whose callers were all cancelled: its failure is not "never retrieved"
    if not run.cancelled():
        run.exception()
