"""What each library module provides: one ``Adapter`` subclass, used inside a child process."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Mapping, Sequence
from typing import Any, ClassVar

from ..jobs import Recorder

__all__ = ["QUEUE_NAME", "STOP_GRACE", "Adapter", "stop"]

QUEUE_NAME = "bench"
STOP_GRACE = 5.0

logger = logging.getLogger("benchmarks")


async def stop(task: asyncio.Future[Any], grace: float = STOP_GRACE) -> None:
    """Cancel a worker's task and give it ``grace`` s to end.

    A task still running after that is left behind (the child process exits without
    waiting for it): a worker that ignores cancellation must not hang the benchmark.
    """
    task.cancel()
    done, _ = await asyncio.wait({task}, timeout=grace)
    if not done:
        logger.warning("worker task still running %.0f s after cancel(); left behind", grace)
        return
    with contextlib.suppress(asyncio.CancelledError):
        error = task.exception()
        if error is not None and not isinstance(error, asyncio.CancelledError):
            logger.warning("worker task ended with %r", error)


class Adapter(abc.ABC):
    """One library, driven through its public API only.

    ``settings`` says, for the report, how the library is set up. ``bulk_api`` names its
    bulk enqueue call, or is None when it has none. ``drain_variants`` lists the ways
    ``work`` can run (the first is the default), ``latency_variants`` those the latency
    workload runs. ``concurrency_note`` is shown where the
    library cannot run ten jobs at once. ``has_pickup``: ``work`` picks up jobs sent by
    another process (the latency workload).
    """

    name: ClassVar[str]
    distributions: ClassVar[tuple[str, ...]]
    settings: ClassVar[str]
    bulk_api: ClassVar[str | None] = None
    drain_variants: ClassVar[tuple[str, ...]] = ("",)
    latency_variants: ClassVar[tuple[str, ...]] = ("",)
    concurrent_enqueue: ClassVar[bool] = False
    concurrency_note: ClassVar[str | None] = None
    has_pickup: ClassVar[bool] = True
    has_depth: ClassVar[bool] = False

    def __init__(self, url: str) -> None:
        self.url = url

    async def open(self) -> None:  # noqa: B027 (optional hook)
        """Connect the producer side (and whatever the library sets up first)."""

    async def close(self) -> None:  # noqa: B027 (optional hook)
        """Close what ``open`` and ``work`` opened."""

    @abc.abstractmethod
    async def enqueue(self, kwargs: Mapping[str, Any]) -> None:
        """Queue one job whose handler gets ``kwargs``; return when the library says so."""

    async def enqueue_bulk(self, batch: Sequence[Mapping[str, Any]]) -> None:
        """Queue ``batch`` with the library's bulk API."""
        raise NotImplementedError(f"{self.name} has no bulk enqueue")

    @abc.abstractmethod
    async def queued(self) -> int:
        """How many jobs wait in the queue now."""

    async def work(self, recorder: Recorder, *, concurrency: int, variant: str) -> None:
        """Run one worker of ``concurrency`` in this process until ``recorder`` saw every job
        (or gave up waiting: ``recorder.limit_s``), then stop it."""
        raise NotImplementedError(f"{self.name} has no worker")

    async def depth_latencies(
        self, depth: int, samples: int, locked: bool
    ) -> tuple[list[float], int]:
        """``get`` latencies (s) with ``depth`` jobs in the queue; also how many gets found
        a job. Only where ``has_depth``: the library takes jobs one by one without a worker."""
        raise NotImplementedError(f"{self.name} has no depth measurement")
