"""The report's server-side sections: Redis cost per job, memory by key, get latency by depth."""

from __future__ import annotations

import math

from .libs import BASELINE
from .tables import (
    DASH,
    TIMES,
    Meta,
    Results,
    Row,
    aggregate,
    label,
    num,
    ratio,
    span,
    table,
)

__all__ = ["cost", "depth", "drain_label", "drain_rows", "memory_by_key"]


def drain_rows(results: Results) -> list[tuple[str, str, Row]]:
    return [
        (lib, variant, aggregate(workload, runs))
        for (workload, lib, variant), runs in results.items()
        if workload == "drain"
    ]


def drain_label(meta: Meta, lib: str, variant: str) -> str:
    """The row's label, and its N where ``--n-of`` gave it fewer jobs than the run's."""
    n = meta.args.get("n_of", {}).get(lib)
    return label(lib, variant) + (f" (N={n:,})" if n is not None else "")


def cost(meta: Meta, results: Results) -> list[str]:
    memory = {lib: aggregate(w, runs) for (w, lib, _v), runs in results.items() if w == "memory"}
    drains = drain_rows(results)
    lines = [
        "## 4. Redis cost",
        "",
        "From `INFO commandstats`, `INFO cpu` and `INFO stats` deltas across the drain runs: "
        "enqueuing N jobs one by one, then the worker running them. Commands count as Redis "
        "counts them: each command a Lua script, a function or MULTI runs counts once, and so "
        "does the EVALSHA/FCALL/EXEC around them. A job body's own INCR (with `--job incr`) is "
        "taken out of the command count, not out of the CPU. Memory: `used_memory` growth "
        "per job with N jobs queued (nothing consumed), each with a "
        f"{meta.args['payload_bytes']}-byte JSON payload.",
        "",
    ]
    body = []
    seen: set[str] = set()
    for lib, variant, row in drains:
        mem = memory.get(lib) if lib not in seen and lib != BASELINE else None
        seen.add(lib)
        body.append(
            [
                drain_label(meta, lib, variant),
                span(row.get("enqueue_cmds_per_job")),
                span(row.get("drain_cmds_per_job")),
                span(row.get("enqueue_cpu_us_per_job")),
                span(row.get("drain_cpu_us_per_job")),
                num(
                    row.median("enqueue_bytes_in_per_job")
                    + row.median("enqueue_bytes_out_per_job")
                    + row.median("drain_bytes_in_per_job")
                    + row.median("drain_bytes_out_per_job")
                ),
                span(mem.get("bytes_per_job")) if mem else DASH,
                row.check if not mem or not mem.failures else mem.check,
            ]
        )
    for lib, mem in memory.items():
        if lib not in seen or lib == BASELINE:
            name = "redis: SET unique key" if lib == BASELINE else lib
            body.append(
                [name, DASH, DASH, DASH, DASH, DASH, span(mem.get("bytes_per_job")), mem.check]
            )
    header = [
        "library",
        "cmds/job enqueue",
        "cmds/job run",
        "Redis CPU µs/job enqueue",
        "Redis CPU µs/job run",
        "net bytes/job",
        "memory B/job",
        "check",
    ]
    lines += table(header, body)
    lines += ["", "Commands per job by name (last repeat; enqueue | run):", ""]
    for lib, variant, row in drains:
        parts = []
        for key in ("enqueue_top", "drain_top"):
            top = row.extra.get(key, [])
            parts.append(", ".join(f"{name} {per:.2f}" for name, per in top) or DASH)
        lines.append(f"- {label(lib, variant)}: {parts[0]} | {parts[1]}")
    lines.append("")
    return lines


def depth(meta: Meta, results: Results) -> list[str]:
    lines = [
        "## 5. Depth",
        "",
        f"`get` latency (µs) with that many jobs in the queue: waiting (filled with put_many "
        f"in chunks of 1000), or all locked (by get_many with a one-hour lock) with "
        f"{meta.args['samples']} fresh jobs put behind them; {meta.args['samples']} sequential "
        "gets timed each. A bare PING on the same connection type for scale.",
        "",
    ]
    body = []
    for (workload, lib, _variant), runs in results.items():
        if workload != "depth":
            continue
        row = aggregate(workload, runs)
        ping = row.median("ping_p50_us")
        for d in meta.args["depths"]:
            for state in ("waiting", "locked"):
                p50 = row.get(f"{d}_{state}_p50_us")
                body.append(
                    [
                        lib,
                        f"{d:,}",
                        state,
                        span(p50),
                        span(row.get(f"{d}_{state}_p99_us")),
                        ratio(p50.median if p50 else math.nan, ping),
                        row.check,
                    ]
                )
        body.append(
            [
                "redis: PING",
                DASH,
                DASH,
                span(row.get("ping_p50_us")),
                span(row.get("ping_p99_us")),
                ratio(ping, ping),
                DASH,
            ]
        )
    header = ["library", "jobs", "state", "get p50 µs", "get p99 µs", f"p50 {TIMES} PING", "check"]
    return [*lines, *table(header, body), ""]


def memory_by_key(meta: Meta, results: Results) -> list[str]:
    payload = meta.args["payload_bytes"]
    lines = [
        "## 6. Memory by key",
        "",
        f"N jobs queued with a {payload}-byte JSON payload, nothing consumed; then `MEMORY "
        "USAGE key SAMPLES 0` of every key in the (otherwise empty) server, keys that "
        "differ only by an id or a number on one line, divided by N. Name and value bytes: "
        "averages over up to 200 elements of the first key of the line (a field or member "
        "name and its value; a zset's value is its 8-byte score; a list has values only). "
        "The last repeat's keys; growth and sums are medians.",
        "",
    ]
    for (workload, lib, _variant), runs in results.items():
        if workload != "memory":
            continue
        row = aggregate(workload, runs)
        grown, keys = row.median("bytes_per_job"), row.median("key_bytes_per_job")
        lines += [
            f"**{lib}**: `used_memory` grew {num(grown)} B per job ({num(grown - payload)} B "
            f"beyond the {payload}-byte payload); its keys' `MEMORY USAGE` sums to "
            f"{num(keys)} B per job; the other {num(grown - keys)} B are the keyspace's "
            "own entries, the scripts loaded, client buffers and the allocator's rounding, "
            "over N jobs.",
            "",
        ]
        body = [
            [
                f"`{group['pattern']}`",
                f"{group['keys']:,}",
                f"{group['type']}, {group['encoding']}",
                f"{group['elements_first']:,}",
                num(group["bytes_per_job"]),
                num(group["name_bytes"]),
                num(group["value_bytes"]),
            ]
            for group in row.extra.get("keys", [])
        ]
        header = ["key", "keys", "type, encoding", "elements (a key)", "B/job", "name B", "value B"]
        lines += [*table(header, body), ""]
    return lines
