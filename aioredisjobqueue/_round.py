"""Complete-and-take: completions and the next take of a Worker in one round trip.

``complete.lua`` and ``get.lua`` are written at once on the queue's pipe (two script calls,
one write, one round trip), the completes first. Where the queue has no pipe of its own (a
client it was given, a Redis Cluster route) they go one after the other.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from redis.exceptions import NoScriptError

from ._pipe import Pipe
from ._scripts import Completion, Delivery, Scripts, deliveries

__all__ = ["complete_take"]


async def complete_take(
    scripts: Scripts,
    held: list[Completion],
    count: int,
    lock_ms: int,
    token: str,
    max_deliveries: int,
    *,
    orphan: Callable[[list[Delivery]], None],
) -> tuple[list[bool], list[Delivery], Exception | None]:
    """``scripts.complete(held)`` then ``scripts.get(count, …)``: (True for each job
    removed, the jobs taken, the error the get met after the completes ran, or None).
    Either part may be empty; an error of the completes raises.

    ``orphan`` receives the jobs taken if the caller is cancelled while the calls run, or
    if the completes failed with an error reply after the get took jobs.
    """
    await scripts.ready()  # what the queue runs on, before building the calls
    pipe = scripts.pipe
    if not isinstance(pipe, Pipe) or not held or not count:
        done = await scripts.complete(held) if held else []
        try:
            alone = await scripts.get(count, lock_ms, token, max_deliveries, orphan=orphan)
        except Exception as exc:
            if not held:
                raise
            return done, [], exc
        return done, alone, None
    complete, complete_args = scripts.complete_call(held)
    get, get_args = scripts.get_call(count, lock_ms, token, max_deliveries)

    def adopt(flat: Any) -> None:
        orphan(deliveries(flat, token))

    done_reply, taken_reply = await pipe.execute_all(
        [complete.command(*complete_args), get.command(*get_args)], [None, adopt]
    )
    if isinstance(taken_reply, NoScriptError):  # nothing ran: again, with its source
        try:
            taken_reply = await get(*get_args, orphan=adopt)
        except Exception as exc:
            taken_reply = exc
    error = taken_reply if isinstance(taken_reply, Exception) else None
    taken = [] if error is not None else deliveries(taken_reply, token)
    try:
        if isinstance(done_reply, NoScriptError):
            done_reply = await complete(*complete_args)
        elif isinstance(done_reply, Exception):
            raise done_reply
    except BaseException:
        orphan(taken)
        raise
    return [bool(d) for d in done_reply], taken, error
