"""The markdown report: a header saying how it was measured, then one table per workload."""

from __future__ import annotations

import datetime
import math
import os
import platform
import subprocess

from .harness import ROOT
from .libs import BASELINE, OURS
from .report_server import cost, depth, drain_label, drain_rows, memory_by_key
from .tables import (
    DASH,
    EN_DASH,
    TIMES,
    Meta,
    Results,
    aggregate,
    failures,
    label,
    num,
    ratio,
    share,
    span,
    table,
)

__all__ = ["Meta", "failures", "ratio", "render", "span", "table"]


def _body_line(job: str) -> str:
    if job == "incr":
        return (
            "- every job is the same for every library: one `INCR` of a counter on a client of "
            "the worker's own (`redis.asyncio`; rq: `redis.Redis`). A row's check is ok only "
            "if the Redis counter and the in-process count both equal the jobs queued, each "
            "job once (and, for enqueue rows, the queue holds what was put)."
        )
    return (
        "- every job is the same for every library: a no-op handler that only counts itself "
        "in-process (`--job incr` makes it one Redis `INCR`). A row's check is ok only if "
        "the in-process count equals the jobs queued, each job once (and, for enqueue rows, "
        "the queue holds what was put)."
    )


# -- the report ------------------------------------------------------------------------------


def _git_revision() -> str:
    try:
        rev = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "--", "aioredisjobqueue"],
            cwd=ROOT,
            capture_output=True,
            text=True,
            check=True,
        ).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "unknown"
    return rev + (" with uncommitted changes to aioredisjobqueue/" if dirty else "")


def _loads(results: Results) -> str:
    loads = sorted(r.load for runs in results.values() for r in runs if math.isfinite(r.load))
    if not loads:
        return ""
    return (
        f"1-minute load average as each run started {loads[0]:.2f}{EN_DASH}{loads[-1]:.2f} "
        f"(median {loads[len(loads) // 2]:.2f}), "
    )


def _header(meta: Meta, results: Results) -> list[str]:
    args = meta.args
    when = datetime.datetime.fromtimestamp(meta.started, tz=datetime.UTC)
    lines = [
        "# aioredisjobqueue side by side",
        "",
        f"- date: {when:%Y-%m-%d %H:%M} UTC; took {meta.seconds / 60:.0f} min",
        f"- machine: `nproc` = {os.cpu_count()}, {platform.system()} {platform.machine()}, "
        f"{_loads(results)}load average at the end "
        f"{' '.join(f'{x:.2f}' for x in os.getloadavg())} (a shared, noisy machine: read "
        "the ranges, and compare rows of one run, not figures across runs)",
        f"- Redis {meta.redis_version}: a private redis-server on a free loopback port, "
        "`--save '' --appendonly no`, FLUSHALL + SCRIPT FLUSH + FUNCTION FLUSH before every run",
        f"- Python {platform.python_version()}; aioredisjobqueue at git {_git_revision()}",
        f"- command: `{meta.command}`",
        f"- N = {args['n']} jobs"
        + "".join(f" (drain: {lib} {n})" for lib, n in args.get("n_of", {}).items())
        + f", {args['repeat']} repeat(s): each figure is the median "
        f"(min{EN_DASH}max) over the repeats. Every run is a subprocess of its own (so its "
        "CPU is its own); within a repeat the libraries run one after another, interleaved, "
        "their order rotated each repeat.",
        _body_line(args.get("job", "incr")),
        "",
        "## Libraries and settings",
        "",
    ]
    rows = []
    for lib, info in meta.infos.items():
        versions = info["versions"]
        own = ", ".join(f"{k} {v}" for k, v in versions.items() if k not in ("python", "redis"))
        venv = meta.venvs.get(lib)
        rows.append(
            [
                lib,
                own,
                versions.get("redis", "?"),
                f"own venv `{venv}`" if venv else "project `.venv`",
            ]
        )
    lines += table(["library", "version", "redis-py", "runs in"], rows)
    lines.append("")
    for lib, info in meta.infos.items():
        note = f" Concurrency: {info['concurrency_note']}." if info["concurrency_note"] else ""
        lines.append(f"- **{lib}**: {info['settings']}.{note}")
    for lib, why in meta.skipped.items():
        lines.append(f"- **{lib}**: not run ({why})")
    lines.append("")
    return lines


def _enqueue(meta: Meta, results: Results) -> list[str]:
    n = meta.args["n"]
    base = aggregate("enqueue", results.get(("enqueue", BASELINE, ""), []))
    ping = base.median("ping_us")
    lines = [
        "## 1. Enqueue",
        "",
        f"{n} unique no-op jobs from one producer, each awaited before the next; then "
        f"{n} more through the bulk API (chunks of {meta.args['bulk_chunk']}); then, where "
        f"shown, {n} more from {meta.args['concurrent_tasks']} concurrent tasks on one client. "
        f"µs per job; {TIMES} PING = µs per job over one bare awaited PING. The queue already "
        "holds the earlier phases' jobs.",
        "",
    ]
    rows: list[list[str]] = []
    if ("enqueue", BASELINE, "") in results:
        rows.append(
            [
                "redis: PING (one round trip)",
                span(base.get("ping_us")),
                num(1e6 / ping),
                ratio(ping, ping),
                DASH,
                DASH,
                DASH,
                DASH,
                base.check,
            ]
        )
    for (workload, lib, _variant), runs in results.items():
        if workload != "enqueue":
            continue
        row = aggregate(workload, runs)
        info = meta.infos[lib]
        name = "redis: SET unique key" if lib == BASELINE else lib
        rows.append(
            [
                name,
                span(row.get("single_us")),
                num(1e6 / row.median("single_us")),
                ratio(row.median("single_us"), ping),
                info["bulk_api"] or "none",
                span(row.get("bulk_us")),
                ratio(row.median("bulk_us"), ping),
                span(row.get("concurrent_us")),
                row.check,
            ]
        )
    header = [
        "library",
        "one by one µs/job",
        "jobs/s",
        f"{TIMES} PING",
        "bulk API",
        "bulk µs/job",
        f"{TIMES} PING",
        f"{meta.args['concurrent_tasks']} tasks µs/job",
        "check (queued/expected)",
    ]
    return [*lines, *table(header, rows), ""]


def _fewer(meta: Meta) -> str:
    n_of = meta.args.get("n_of", {})
    if not n_of:
        return ""
    which = ", ".join(f"{lib} {n:,}" for lib, n in n_of.items())
    return (
        f" Fewer jobs for some (`--n-of`): {which}; a rate in jobs/s from the first job's "
        "start to the last one's end does not depend on N for a worker that runs at a "
        "steady pace, and the per-job costs are per job."
    )


def _drain(meta: Meta, results: Results) -> list[str]:
    rows = drain_rows(results)
    peers = [
        (lib, row) for lib, _v, row in rows if lib not in (OURS, BASELINE) and not row.failures
    ]
    best_lib, best = max(peers, key=lambda p: p[1].median("jobs_per_s"), default=(None, None))
    best_rate = best.median("jobs_per_s") if best is not None else math.nan
    floors = [row for lib, _v, row in rows if lib == BASELINE and not row.failures]
    floor_rate = floors[0].median("jobs_per_s") if floors else math.nan
    lines = [
        "## 2. Drain",
        "",
        f"{meta.args['n']} queued jobs (body: {meta.args.get('job', 'incr')}) run by one "
        f"worker process at concurrency {meta.args['concurrency']} (rq: 1), timed from the "
        "first job's start to the last job's end. The `redis: job bodies only` row is the "
        "floor: no queue, the same job bodies run by as many tasks; `share of floor` = a row's "
        "median jobs/s over the floor's median jobs/s, in this run"
        + ("" if floors else " (no floor row in this run: `--only` without `redis`)")
        + f". {TIMES} best peer = jobs/s over the fastest peer's"
        + (f" ({best_lib})." if best_lib else ".")
        + _fewer(meta),
        "",
    ]
    body = []
    for lib, variant, row in rows:
        info = meta.infos[lib]
        worker = info["concurrency_note"] or str(meta.args["concurrency"])
        body.append(
            [
                drain_label(meta, lib, variant),
                worker,
                span(row.get("jobs_per_s")),
                share(row.median("jobs_per_s"), floor_rate),
                span(row.get("us_per_job")),
                ratio(row.median("jobs_per_s"), best_rate),
                row.check,
            ]
        )
    header = [
        "library",
        "concurrency",
        "jobs/s",
        "share of floor",
        "µs/job",
        f"{TIMES} best peer",
        "check (ran/queued)",
    ]
    return [*lines, *table(header, body), ""]


def _latency(meta: Meta, results: Results) -> list[str]:
    args = meta.args
    idle = args["idle"]
    lines = [
        "## 3. Pickup latency",
        "",
        f"An idle worker (same setup as the drain); {args['count']} jobs sent open-loop by "
        f"another process at {args['rate']:g}/s, the scheduled send time in the payload; "
        "latency = handler start - scheduled send time, in ms"
        + (
            f"; then one more job after {idle:g} s of silence, its latency taken from its "
            "actual send (the producer's own wake-up after the long sleep was late by "
            "the ms shown, on this machine, and is not the worker's doing)."
            if idle > 0
            else "."
        )
        + " The producer's worst lateness against its schedule during the 50/s phase is shown "
        "for scale: it is part of every latency there."
        + (
            " Idle requests/s: every request Redis received during the quiet part of that "
            f"silence (from {min(5.0, idle * 0.2):g} s after the last open-loop job was due, "
            f"when a polling worker's backoff has reached its cap, to {min(1.0, idle * 0.1):g} s "
            "before the next), counted with MONITOR while the producer is disconnected, so "
            "all of it is the idle worker's (its job-body client is idle too); commands that "
            "scripts ran inside Redis are counted apart. aioredisjobqueue polls with "
            "`max_interval=1.0` s; its consume row is 10 `consume()` loops, each polling on "
            "its own, its Worker row one Worker, which polls once for its 10 slots and sends "
            "a heartbeat every 2 s."
            if idle > 0
            else ""
        ),
        "",
    ]
    body = []
    tops = []
    for (workload, lib, variant), runs in results.items():
        if workload != "latency":
            continue
        row = aggregate(workload, runs)
        top = row.extra.get("idle_top", [])
        if top:
            named = ", ".join(f"{name} {per:.2f}" for name, per in top)
            tops.append(f"- {label(lib, variant)}: {named}")
        body.append(
            [
                label(lib, variant),
                span(row.get("p50_ms")),
                span(row.get("p99_ms")),
                span(row.get("max_ms")),
                span(row.get("idle_ms")) if idle > 0 else "skipped",
                span(row.get("idle_send_lateness_ms")) if idle > 0 else DASH,
                span(row.get("send_lateness_ms")),
                span(row.get("idle_requests_per_s")) if idle > 0 else DASH,
                span(row.get("idle_in_scripts_per_s")) if idle > 0 else DASH,
                row.check,
            ]
        )
    header = [
        "library",
        "p50 ms",
        "p99 ms",
        "max ms",
        f"after {idle:g} s idle ms" if idle > 0 else "after idle",
        "its send's lateness ms",
        "producer lateness ms",
        "idle requests/s",
        "in-script cmds/s",
        "check (received/sent)",
    ]
    lines += table(header, body)
    if tops:
        lines += ["", "Idle requests per second by command (last repeat):", "", *tops]
    return [*lines, ""]


def render(meta: Meta, results: Results) -> str:
    lines = _header(meta, results)
    workloads = {w for (w, _lib, _v) in results}
    if "enqueue" in workloads:
        lines += _enqueue(meta, results)
    if "drain" in workloads:
        lines += _drain(meta, results)
    if "latency" in workloads:
        lines += _latency(meta, results)
    if workloads & {"drain", "memory"}:
        lines += cost(meta, results)
    if "depth" in workloads:
        lines += depth(meta, results)
    if "memory" in workloads:
        lines += memory_by_key(meta, results)
    lines += ["## Notes from the runs", ""]
    noted = False
    for (workload, lib, variant), runs in results.items():
        row = aggregate(workload, runs)
        if row.notes:
            noted = True
            lines.append(f"- {workload}, {label(lib, variant)}: " + "; ".join(row.notes))
    lines += ([] if noted else ["none"]) + [""]
    failed = failures(results)
    lines += ["## Failures", ""] + ([f"- {f}" for f in failed] if failed else ["none"])
    return "\n".join(lines) + "\n"
