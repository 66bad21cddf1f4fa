"""Server-side cost from ``INFO``: command counts, CPU, network bytes, memory."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import redis.asyncio

from .jobs import BODY_COMMAND

# The snapshots' own command, left out of every count.
_OWN = frozenset({"info"})


@dataclass(frozen=True, slots=True)
class Snapshot:
    calls: dict[str, int]
    usec: dict[str, int]
    cpu_s: float
    net_in: int
    net_out: int
    used_memory: int


async def snapshot(client: redis.asyncio.Redis) -> Snapshot:
    stats: dict[str, Any] = await client.info("commandstats")
    calls: dict[str, int] = {}
    usec: dict[str, int] = {}
    for key, value in stats.items():
        name = key.removeprefix("cmdstat_")
        calls[name] = int(value["calls"])
        usec[name] = int(value["usec"])
    cpu: dict[str, Any] = await client.info("cpu")
    net: dict[str, Any] = await client.info("stats")
    memory: dict[str, Any] = await client.info("memory")
    return Snapshot(
        calls=calls,
        usec=usec,
        cpu_s=float(cpu["used_cpu_user"]) + float(cpu["used_cpu_sys"]),
        net_in=int(net["total_net_input_bytes"]),
        net_out=int(net["total_net_output_bytes"]),
        used_memory=int(memory["used_memory"]),
    )


def cost(before: Snapshot, after: Snapshot, jobs: int, bodies: int = 0) -> dict[str, Any]:
    """Per-job server cost between two snapshots.

    Commands run inside Lua scripts, functions and MULTI count as Redis counts them (each
    one). ``bodies`` job bodies (one ``BODY_COMMAND`` each) are taken out of the command
    count (not out of the CPU time).
    """
    delta = {
        name: after.calls.get(name, 0) - before.calls.get(name, 0)
        for name in after.calls
        if name not in _OWN
    }
    if bodies:
        delta[BODY_COMMAND] = delta.get(BODY_COMMAND, 0) - bodies
    delta = {k: v for k, v in delta.items() if v > 0}
    total = sum(delta.values())
    top = sorted(delta.items(), key=lambda kv: -kv[1])[:6]
    return {
        "cmds_per_job": total / jobs,
        "cpu_us_per_job": (after.cpu_s - before.cpu_s) * 1e6 / jobs,
        "bytes_in_per_job": (after.net_in - before.net_in) / jobs,
        "bytes_out_per_job": (after.net_out - before.net_out) / jobs,
        "top": [[name, calls / jobs] for name, calls in top],
    }
