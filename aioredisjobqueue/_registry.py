"""Typed tasks: async functions declared by name, queued with checked arguments.

    tasks = Tasks()

    @tasks.task(timeout=30, max_deliveries=3)
    async def send_email(to: str, subject: str) -> str: ...

    job_id = await send_email.put(queue, to="ada@example.com", subject="hi")
    await Worker(queue, tasks).run()

A task's job is plain JSON, ``{"task": "send_email", "args": {"subject": "hi", "to": ...}}``,
so content identity holds (the same call is the same job) and any language can queue one.
"""

from __future__ import annotations

import inspect
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Any, Generic, ParamSpec, Protocol, TypeVar, overload

from . import _args, _codec
from ._job import Job
from ._outcome import DoNotRetry
from ._periodic import Periodic, tick_name
from ._queue import RedisJobQueue
from ._running import JobOptions, optional

__all__ = ["Task", "Tasks"]

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class _Options:
    """A task's own options; None: the Worker's."""

    timeout: float | None = None
    max_deliveries: int | None = None
    retry_delay: float | None = None
    retry_max_delay: float | None = None
    result_ttl: float | None = None


class Task(Generic[P, R]):
    """An async function registered in a ``Tasks`` registry under ``name``.

    ``await task.put(queue, *args, **kwargs)`` queues a call (checked against the
    function's signature, arguments JSON can hold) and returns its job id; ``await
    task(*args, **kwargs)`` runs the function here, as a plain call.
    """

    def __init__(
        self,
        function: Callable[P, Awaitable[R]],
        name: str,
        options: _Options,
        *,
        delay: float = 0.0,
        key: str | None = None,
    ) -> None:
        self._function = function
        self._signature = inspect.signature(function)
        self.name = name
        self._options = options
        self._delay = delay
        self._key = key
        self.__doc__ = function.__doc__
        self.__wrapped__ = function

    async def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        return await self._function(*args, **kwargs)

    def payload(self, *args: P.args, **kwargs: P.kwargs) -> dict[str, Any]:
        """The job's JSON payload for a call: ``{"task": name, "args": {...}}``, every
        argument by name (defaults included). ``TypeError`` for arguments the function does
        not take or JSON cannot hold, naming them."""
        return {"task": self.name, "args": self._bind(args, kwargs)}

    def _bind(self, args: tuple[Any, ...], kwargs: Mapping[str, Any]) -> dict[str, Any]:
        try:
            bound = self._signature.bind(*args, **kwargs)
        except TypeError as exc:
            raise TypeError(f"{self.name}(): {exc}") from None
        bound.apply_defaults()
        for name, value in bound.arguments.items():
            try:
                _codec.encode(value)
            except (TypeError, ValueError) as exc:
                raise TypeError(
                    f"{self.name}(): argument {name!r} = {value!r} cannot be sent as JSON: {exc}"
                ) from None
        return dict(bound.arguments)

    async def put(self, queue: RedisJobQueue, /, *args: P.args, **kwargs: P.kwargs) -> str:
        """Queue a call of this task in ``queue``; return its job id.

        Raises ``TypeError`` (before anything reaches Redis) for arguments the function does
        not take or JSON cannot hold, and ``DuplicateJobError`` while the same call is
        queued. ``with_options(delay=..., key=...)`` delays it or names its identity.
        """
        if not isinstance(queue, RedisJobQueue):
            raise TypeError(f"{self.name}.put(): queue must be a RedisJobQueue, got {queue!r}")
        return await queue.put(self.payload(*args, **kwargs), delay=self._delay, key=self._key)

    def with_options(self, *, delay: float = 0.0, key: str | None = None) -> Task[P, R]:
        """This task, queued by ``put`` after ``delay`` seconds, or under ``key`` (the job's
        identity instead of its content)."""
        _args.delay_us(delay)
        if key is not None and not isinstance(key, str):
            raise TypeError(f"key must be a str, got {key!r}")
        return Task(self._function, self.name, self._options, delay=delay, key=key)

    def __repr__(self) -> str:
        return f"Task({self.name!r})"


class _Decorator(Protocol):
    """What ``@tasks.task(...)`` returns: it makes a function a ``Task``, its types kept."""

    def __call__(self, function: Callable[P, Awaitable[R]], /) -> Task[P, R]: ...


class Tasks:
    """A registry of tasks: declare them with ``@tasks.task``, run them all with
    ``Worker(queue, tasks)``.

    As a Worker's handler it runs the task a job names with the job's arguments; what
    the task returns is kept as the job's result. A job naming no task of the registry,
    or arguments the task does not take, is dead-lettered at once with an error that says
    so. Each task may set its own ``timeout``, ``max_deliveries``, ``retry_delay``,
    ``retry_max_delay`` and ``result_ttl`` (else the Worker's), and may run periodically
    (``every=`` seconds or ``cron=``, see ``Periodic``).
    """

    def __init__(self) -> None:
        self._tasks: dict[str, Task[Any, Any]] = {}
        self._periodic: list[Periodic] = []

    @property
    def names(self) -> list[str]:
        """The names of the registered tasks, sorted."""
        return sorted(self._tasks)

    @property
    def periodic(self) -> list[Periodic]:
        """The periodic schedules of the registry's tasks (a Worker running the registry
        runs them)."""
        return list(self._periodic)

    @overload
    def task(self, function: Callable[P, Awaitable[R]]) -> Task[P, R]: ...

    @overload
    def task(
        self,
        *,
        name: str | None = None,
        timeout: float | None = None,
        max_deliveries: int | None = None,
        retry_delay: float | None = None,
        retry_max_delay: float | None = None,
        result_ttl: float | None = None,
        every: float | None = None,
        cron: str | None = None,
        catch_up: bool = False,
        queue: str | None = None,
    ) -> _Decorator: ...

    def task(
        self,
        function: Callable[..., Awaitable[Any]] | None = None,
        *,
        name: str | None = None,
        timeout: float | None = None,
        max_deliveries: int | None = None,
        retry_delay: float | None = None,
        retry_max_delay: float | None = None,
        result_ttl: float | None = None,
        every: float | None = None,
        cron: str | None = None,
        catch_up: bool = False,
        queue: str | None = None,
    ) -> Any:
        """Register an async function as a task (``@tasks.task`` or ``@tasks.task(...)``).

        ``name`` defaults to the function's name. ``every`` (seconds) or ``cron`` (five
        fields, UTC) also queue it periodically, once per tick across any number of
        workers; such a task must take no argument without a default.
        """
        options = _Options(
            timeout=optional(_args.positive_seconds, timeout, "timeout"),
            max_deliveries=optional(_args.positive_int, max_deliveries, "max_deliveries"),
            retry_delay=optional(_args.seconds, retry_delay, "retry_delay"),
            retry_max_delay=optional(_args.seconds, retry_max_delay, "retry_max_delay"),
            result_ttl=optional(_args.positive_seconds, result_ttl, "result_ttl"),
        )

        def register(fn: Callable[..., Awaitable[Any]]) -> Task[Any, Any]:
            if not inspect.iscoroutinefunction(fn):
                raise TypeError(f"a task must be an async function, got {fn!r}")
            task_name = fn.__name__ if name is None else name
            if not isinstance(task_name, str) or not task_name:
                raise ValueError(f"name must be a non-empty str, got {task_name!r}")
            if task_name in self._tasks:
                raise ValueError(f"a task named {task_name!r} is already registered")
            _check_signature(fn, task_name)
            task = Task(fn, task_name, options)
            if every is not None or cron is not None:
                self._periodic.append(_schedule(task, every, cron, catch_up, queue))
            self._tasks[task_name] = task
            return task

        return register if function is None else register(function)

    async def __call__(self, job: Job) -> Any:
        """Run the task ``job`` names with its arguments; return what it returns."""
        task, args = self._find(job.payload)
        return await task._function(**args)

    def job_options(self, job: Job, defaults: JobOptions) -> JobOptions:
        """The options of the task ``job`` names, else the Worker's; results kept."""
        options = replace(defaults, keep_result=True)
        try:
            task, _ = self._find(job.payload)
        except DoNotRetry:
            return options
        own = task._options
        return replace(
            options,
            timeout=own.timeout if own.timeout is not None else options.timeout,
            max_deliveries=own.max_deliveries or options.max_deliveries,
            retry_delay=own.retry_delay if own.retry_delay is not None else options.retry_delay,
            retry_max_delay=(
                own.retry_max_delay if own.retry_max_delay is not None else options.retry_max_delay
            ),
            result_ttl=own.result_ttl if own.result_ttl is not None else options.result_ttl,
        )

    def _find(self, payload: Any) -> tuple[Task[Any, Any], dict[str, Any]]:
        """The task a payload names and its arguments; ``DoNotRetry`` saying what is wrong."""
        if not isinstance(payload, dict) or not isinstance(payload.get("task"), str):
            raise DoNotRetry(f'not a task\'s payload (no "task" name): {payload!r:.200}')
        name = payload["task"]
        task = self._tasks.get(name)
        if task is None:
            raise DoNotRetry(f"unknown task {name!r}: this worker's tasks are {self.names}")
        args = payload.get("args", {})
        if not isinstance(args, dict):
            raise DoNotRetry(f'task {name!r}: "args" must be an object, got {args!r:.200}')
        try:
            task._signature.bind(**args)
        except TypeError as exc:
            raise DoNotRetry(f"task {name!r} cannot take these arguments: {exc}") from None
        return task, args

    def __repr__(self) -> str:
        return f"Tasks({self.names})"


def _check_signature(fn: Callable[..., Any], name: str) -> None:
    """A task's arguments travel by name in a JSON object: no ``*args``, ``**kwargs`` or
    positional-only parameters."""
    for parameter in inspect.signature(fn).parameters.values():
        if parameter.kind not in (parameter.POSITIONAL_OR_KEYWORD, parameter.KEYWORD_ONLY):
            raise TypeError(
                f"task {name!r}: parameter {parameter.name!r} is {parameter.kind.description}; "
                "a task's arguments are sent by name, so each must be a named parameter"
            )


def _schedule(
    task: Task[Any, Any], every: float | None, cron: str | None, catch_up: bool, queue: str | None
) -> Periodic:
    try:
        args = task._bind((), {})
    except TypeError:
        raise TypeError(
            f"periodic task {task.name!r} must take no argument without a default"
        ) from None

    def payload(tick: datetime) -> dict[str, Any]:
        return {"task": task.name, "args": args, "tick": tick_name(tick)}

    return Periodic(task.name, payload, every=every, cron=cron, catch_up=catch_up, queue=queue)
