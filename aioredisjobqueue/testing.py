"""Test helpers for code that uses aioredisjobqueue: a throwaway redis-server, queues on
fakeredis, ``drain()`` to run a handler until a queue is empty, and pytest fixtures.

``RedisServer`` and ``drain()`` need nothing beyond the package; ``fake_queue()`` needs
fakeredis with Lua, and the fixtures pytest and pytest-asyncio: ``pip install
'aioredisjobqueue[testing]'`` installs all three. pytest is imported only by a pytest run,
which loads this module as the plugin ``aioredisjobqueue``; its fixtures do nothing until a
test asks for one by name:

- ``jobqueue``: a ``RedisJobQueue`` on a fresh fakeredis server, closed after the test;
- ``jobqueue_factory``: ``make(name=None, **queue_kwargs)`` makes queues on one fakeredis
  server for the test; without a name they all share one queue name, so two queue
  objects see the same jobs (as two processes would);
- ``jobqueue_redis_server``: a real ``RedisServer`` for the whole session (the test is
  skipped when ``redis-server`` is not on the PATH);
- ``real_jobqueue`` and ``real_jobqueue_factory``: the same two on that server, each test
  with its own queue name, whose keys are deleted after the test.

The queue fixtures are async fixtures of pytest-asyncio: they run in the test's event loop,
in its ``asyncio_mode`` (mark tests ``@pytest.mark.asyncio`` in strict mode). Turn the
plugin off with ``-p no:aioredisjobqueue``.
"""

from __future__ import annotations

import asyncio
import contextlib
import importlib.util
import inspect
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Protocol

from . import _args
from ._queue import QueueStats, RedisJobQueue
from ._server import RedisServer, free_port
from ._server_cluster import RedisClusterServer
from ._server_sentinel import RedisSentinelGroup
from .worker import Handler, JobEvent, Worker

if TYPE_CHECKING:
    import fakeredis
    import pytest

__all__ = [
    "DrainResult",
    "QueueFactory",
    "RedisClusterServer",
    "RedisSentinelGroup",
    "RedisServer",
    "drain",
    "fake_queue",
    "free_port",
]

_INSTALL = "pip install 'aioredisjobqueue[testing]'"


# -- queues on fakeredis ------------------------------------------------------------------


def _unique_name() -> str:
    return f"test-{uuid.uuid4().hex[:12]}"


def _fake_server() -> fakeredis.FakeServer:
    """A new, empty fakeredis server; ModuleNotFoundError naming the extra if missing."""
    try:
        import fakeredis
    except ImportError as exc:
        raise _needs("fakeredis") from exc
    # fakeredis runs the queue's Lua scripts with lupa (the "lua" extra of fakeredis)
    if importlib.util.find_spec("lupa") is None:
        raise _needs("lupa")
    return fakeredis.FakeServer()


def _needs(module: str) -> ModuleNotFoundError:
    return ModuleNotFoundError(
        f"aioredisjobqueue.testing needs {module} for queues on fakeredis: {_INSTALL}",
        name=module,
    )


def _fake_client(server: fakeredis.FakeServer) -> fakeredis.FakeAsyncRedis:
    import fakeredis

    return fakeredis.FakeAsyncRedis(server=server)


@contextlib.asynccontextmanager
async def fake_queue(name: str | None = None, **queue_kwargs: Any) -> AsyncIterator[RedisJobQueue]:
    """A ``RedisJobQueue`` on a fresh fakeredis server of its own, closed at the end.

    ``name`` defaults to a unique one; ``queue_kwargs`` go to ``RedisJobQueue`` (e.g.
    ``max_deliveries``). Raises ``ModuleNotFoundError`` without fakeredis and lupa
    (``pip install 'aioredisjobqueue[testing]'``).
    """
    client = _fake_client(_fake_server())
    try:
        async with RedisJobQueue(name or _unique_name(), redis=client, **queue_kwargs) as queue:
            yield queue
    finally:
        await client.aclose()


# -- drain ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DrainResult:
    """What a worker did in ``drain()``: counts of job outcomes, and every event in order.

    ``completed``, ``retried`` (handler raised or timed out, job released for a retry),
    ``dead`` (dead-lettered), ``lock_lost`` count ``JobEvent`` kinds; ``events`` holds all
    of them, ``"start"`` events included.
    """

    completed: int
    retried: int
    dead: int
    lock_lost: int
    events: list[JobEvent]


async def drain(
    queue: RedisJobQueue,
    handler: Handler,
    *,
    within: float = 30.0,
    include_delayed: bool = True,
    **worker_kwargs: Any,
) -> DrainResult:
    """Run a ``Worker(queue, handler, **worker_kwargs)`` until no job is left for it to run.

    Drained means no job ready and none locked, and none delayed when ``include_delayed``
    (so retries are waited for); dead letters do not count. The worker then stops
    gracefully and the outcomes are returned. Retries are immediate unless you pass
    ``retry_delay``/``retry_max_delay``. An ``on_event`` you pass still gets every event.

    Raises ``TimeoutError`` (naming the queue and its stats) when the queue is not drained
    within ``within`` seconds; running handlers are then cancelled and their jobs given
    back.
    """
    seconds = _args.positive_seconds(within, "within")
    caller_hook = worker_kwargs.pop("on_event", None)
    if caller_hook is not None and not callable(caller_hook):
        raise TypeError(f"on_event must be callable, got {caller_hook!r}")
    events: list[JobEvent] = []

    async def record(event: JobEvent) -> None:
        events.append(event)
        if caller_hook is not None:
            result = caller_hook(event)
            if inspect.isawaitable(result):
                await result

    if "retry_delay" not in worker_kwargs:
        worker_kwargs["retry_delay"] = 0.0
        worker_kwargs.setdefault("retry_max_delay", 0.0)
    worker = Worker(queue, handler, on_event=record, **worker_kwargs)
    loop = asyncio.get_running_loop()
    deadline = loop.time() + seconds
    task = asyncio.create_task(worker.run(), name=f"drain {queue.name!r}")
    try:
        drained, stats = await _watch(queue, task, include_delayed, deadline)
        if not worker.stopping:
            # drained: no handler holds a job, the last outcomes are being recorded
            worker.stop(max(0.0, deadline - loop.time()) if drained else 0.0)
        await task
    finally:
        if not task.done():  # cancelled, or Redis failed us: stop without waiting
            if not worker.stopping:
                worker.stop(0.0)
            await task
    if not drained:
        if loop.time() < deadline:
            raise RuntimeError(f"the worker on queue {queue.name!r} stopped before it drained")
        raise TimeoutError(
            f"queue {queue.name!r} not drained within {seconds:g} s: {stats.ready} ready, "
            f"{stats.locked} locked, {stats.delayed} delayed, {stats.dead} dead"
        )
    counts = worker.counts
    return DrainResult(
        completed=counts.get("complete", 0),
        retried=counts.get("retry", 0),
        dead=counts.get("dead", 0),
        lock_lost=counts.get("lock_lost", 0),
        events=events,
    )


async def _watch(
    queue: RedisJobQueue, task: asyncio.Task[None], include_delayed: bool, deadline: float
) -> tuple[bool, QueueStats]:
    """Poll the queue's stats until it is drained (True), or the deadline or the worker's
    end came first (False); with the last stats."""
    loop = asyncio.get_running_loop()
    while True:
        stats = await queue.stats()
        if stats.ready == stats.locked == 0 and not (include_delayed and stats.delayed):
            return True, stats
        if task.done() or loop.time() >= deadline:
            return False, stats
        await asyncio.sleep(0.01)


# -- pytest ------------------------------------------------------------------------------------


class QueueFactory(Protocol):
    """The ``jobqueue_factory`` fixtures: ``make(name=None, **queue_kwargs)``.

    Without a name every queue made in a test gets the same one, unique to the test.
    """

    def __call__(self, name: str | None = None, **queue_kwargs: Any) -> RedisJobQueue: ...


def pytest_configure(config: pytest.Config) -> None:
    """pytest hook (this module is the pytest plugin ``aioredisjobqueue``): registers the
    fixtures, which import pytest and pytest-asyncio only in a pytest run.

    pytest-asyncio is imported here, not when the plugin loads, so that a test run without
    it still works; the queue fixtures then fail with what to install.
    """
    from ._fixtures import register

    register(config)


def __getattr__(name: str) -> Any:
    # the session fixture (the plugin provides it by name), still importable from here
    # as before, while pytest is imported only when it is asked for
    if name == "jobqueue_redis_server":
        from . import _fixtures

        return _fixtures.jobqueue_redis_server
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
