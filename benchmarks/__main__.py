"""``python -m benchmarks``: run the side-by-side benchmark and write the report.

Starts a private redis-server, asks each library's child what it is (``probe``), then for
each repeat runs every workload for every library, each run in a subprocess of its own
after a FLUSHALL, the libraries interleaved (their order rotated each repeat). Prints the
markdown report and writes it (and the raw results as JSON) under benchmarks/results/.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import shlex
import sys
import time
from pathlib import Path
from typing import Any

from . import report
from .harness import ROOT, ChildResult, RedisServer, run_child
from .jobs import BODIES
from .libs import BASELINE, LIBS, OURS

WORKLOADS = ("enqueue", "drain", "latency", "memory", "depth")
SMOKE_LIBS = (BASELINE, OURS)
# drain: rq runs one job at a time, about 100 jobs/s with --job incr; 2000 jobs give its
# rate (jobs/s, first start to last end) in a fifth of the time 10000 take
DRAIN_N_OF = {"rq": 2000}
# --smoke's silence before the last latency job: long enough to count an idle worker's
# requests over a window of about 2 s
SMOKE_IDLE = 3.0


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _ints(text: str) -> list[int]:
    return [int(float(part)) for part in _csv(text)]


def _n_of(text: str) -> dict[str, int]:
    """``rq=2000,arq=5000`` -> {"rq": 2000, "arq": 5000}."""
    out: dict[str, int] = {}
    for part in _csv(text):
        lib, sep, value = part.partition("=")
        if not sep or not value.strip().isdigit() or int(value) < 1:
            raise argparse.ArgumentTypeError(f"expected LIB=N with N >= 1, got {part!r}")
        out[lib.strip()] = int(value)
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    p = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description="aioredisjobqueue side by side with arq, saq, streaq, taskiq-redis and rq.",
    )
    p.add_argument("--n", type=int, default=10_000, help="jobs per run (default 10000)")
    p.add_argument("--repeat", type=int, default=3, help="repeats (default 3)")
    p.add_argument(
        "--only",
        type=_csv,
        default=None,
        help=f"comma-separated libraries (default all: {','.join(LIBS)})",
    )
    p.add_argument(
        "--workloads",
        type=_csv,
        default=list(WORKLOADS),
        help=f"comma-separated workloads (default all: {','.join(WORKLOADS)})",
    )
    p.add_argument(
        "--smoke",
        action="store_true",
        help="tiny run for CI: only aioredisjobqueue and the bare-redis baseline, small N, "
        "one repeat, a 3 s idle wait, small depths",
    )
    p.add_argument(
        "--job",
        choices=BODIES,
        default="noop",
        help="the job body: noop (default) or incr (one Redis INCR on a client of its own)",
    )
    p.add_argument(
        "--n-of",
        type=_n_of,
        default=dict(DRAIN_N_OF),
        metavar="LIB=N,...",
        help="drain: jobs queued for these libraries instead of --n (default "
        + ",".join(f"{lib}={n}" for lib, n in DRAIN_N_OF.items())
        + ": rq runs one job at a time; '' for none); the table says which rows ran fewer",
    )
    p.add_argument("--concurrency", type=int, default=10, help="worker concurrency (default 10)")
    p.add_argument("--bulk-chunk", type=int, default=1000, help="bulk enqueue chunk (1000)")
    p.add_argument("--concurrent-tasks", type=int, default=50, help="concurrent putters (50)")
    p.add_argument("--rate", type=float, default=50.0, help="latency: jobs per second (50)")
    p.add_argument("--count", type=int, default=200, help="latency: jobs sent (200)")
    p.add_argument(
        "--idle", type=float, default=30.0, help="latency: idle seconds before one more job (30)"
    )
    p.add_argument(
        "--depths",
        type=_ints,
        default=[1_000, 100_000, 1_000_000],
        help="depth: queue sizes (default 1000,100000,1000000)",
    )
    p.add_argument("--samples", type=int, default=1000, help="depth: gets timed per depth")
    p.add_argument("--payload-bytes", type=int, default=100, help="memory: payload size (100)")
    p.add_argument(
        "--timeout", type=float, default=600.0, help="seconds a worker may take to drain (600)"
    )
    p.add_argument("--output", type=Path, default=None, help="report path")
    args = p.parse_args(argv)
    if args.smoke:
        args.n = min(args.n, 200)
        args.repeat = 1
        args.only = args.only or list(SMOKE_LIBS)
        args.count = min(args.count, 20)
        args.idle = min(args.idle, SMOKE_IDLE)
        args.depths = [100, 1000]
        args.samples = min(args.samples, 100)
    args.only = args.only or list(LIBS)
    unknown = [name for name in args.only if name not in LIBS]
    if unknown:
        p.error(f"unknown libraries {unknown}; known: {', '.join(LIBS)}")
    unknown = [name for name in args.n_of if name not in LIBS]
    if unknown:
        p.error(f"--n-of: unknown libraries {unknown}; known: {', '.join(LIBS)}")
    # a smaller N for some, never a larger one than the run's
    args.n_of = {lib: min(n, args.n) for lib, n in args.n_of.items() if n < args.n}
    bad = [w for w in args.workloads if w not in WORKLOADS]
    if bad:
        p.error(f"unknown workloads {bad}; known: {', '.join(WORKLOADS)}")
    if args.output is None:
        name = "smoke.md" if args.smoke else "latest.md"
        args.output = ROOT / "benchmarks" / "results" / name
    return args


def python_for(lib: str) -> str:
    venv = LIBS[lib].venv
    return sys.executable if venv is None else str(ROOT / venv / "bin" / "python")


def base_spec(args: argparse.Namespace, url: str) -> dict[str, Any]:
    return {
        "url": url,
        "n": args.n,
        "variant": "",
        "concurrency": args.concurrency,
        "job": args.job,
        "timeout": args.timeout,
        "bulk_chunk": args.bulk_chunk,
        "concurrent_tasks": args.concurrent_tasks,
        "rate": args.rate,
        "count": args.count,
        "idle": args.idle,
        "boot": 2.0,
        "payload_bytes": args.payload_bytes,
        "depths": args.depths,
        "samples": args.samples,
    }


def child_timeout(args: argparse.Namespace, workload: str) -> float:
    """A generous bound on one run, after which its process group is killed."""
    if workload == "enqueue":
        return 120 + args.n * 3 * 0.01
    if workload == "drain":
        return 120 + args.n * 0.01 + args.timeout
    if workload == "latency":
        return 120 + 2.0 + args.count / args.rate + args.idle + args.timeout
    if workload == "memory":
        return 120 + args.n * 0.01
    return 300 + sum(args.depths) * 3e-4


def variants(info: dict[str, Any], workload: str) -> list[str]:
    if workload == "drain":
        return list(info["drain_variants"])
    if workload == "latency" and info["has_pickup"]:
        return list(info.get("latency_variants", [""]))
    if workload == "depth" and info["has_depth"]:
        return [""]
    if workload in ("enqueue", "memory"):
        return [""]
    return []


def say(text: str) -> None:
    print(text, file=sys.stderr, flush=True)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    command = os.environ.get("BENCH_COMMAND") or shlex.join(
        [os.path.relpath(sys.executable, ROOT), "-m", "benchmarks", *sys.argv[1:]]
    )
    started = time.time()
    results: dict[tuple[str, str, str], list[ChildResult]] = {}
    with RedisServer() as server:
        infos: dict[str, dict[str, Any]] = {}
        skipped: dict[str, str] = {}
        for lib in args.only:
            probe = run_child(python_for(lib), {"lib": lib, "workload": "probe"}, 120)
            if probe.data is None:
                skipped[lib] = probe.error or "probe failed"
                say(f"skipping {lib}: {skipped[lib]}")
            else:
                infos[lib] = probe.data
        libs = list(infos)
        spec = base_spec(args, server.url)
        for r in range(args.repeat):
            order = libs[r % len(libs) :] + libs[: r % len(libs)] if libs else []
            for workload in args.workloads:
                for lib in order:
                    for variant in variants(infos[lib], workload):
                        server.reset()
                        n = args.n_of.get(lib, args.n) if workload == "drain" else args.n
                        result = run_child(
                            python_for(lib),
                            {**spec, "lib": lib, "workload": workload, "variant": variant, "n": n},
                            child_timeout(args, workload),
                        )
                        results.setdefault((workload, lib, variant), []).append(result)
                        status = "ok" if result.data is not None else f"ERROR {result.error}"
                        label = f"{lib} {variant}".strip()
                        say(
                            f"[{r + 1}/{args.repeat}] {workload:8} {label:32} "
                            f"{result.seconds:6.1f} s  load {result.load:.2f}  {status}"
                        )
        meta = report.Meta(
            command=command,
            args=vars(args),
            started=started,
            seconds=time.time() - started,
            redis_version=str(server.info()["redis_version"]),
            infos=infos,
            skipped=skipped,
            venvs={lib: LIBS[lib].venv for lib in infos},
        )
    text = report.render(meta, results)
    sys.stdout.write(text)
    sys.stdout.flush()
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(text)
    raw = {
        "meta": dataclasses.asdict(meta),
        "results": [
            {"workload": w, "lib": lib, "variant": v, "runs": [dataclasses.asdict(r) for r in runs]}
            for (w, lib, v), runs in results.items()
        ],
    }
    args.output.with_suffix(".json").write_text(json.dumps(raw, indent=1, default=str))
    say(f"wrote {os.path.relpath(args.output, Path.cwd())} in {time.time() - started:.0f} s")
    return 1 if report.failures(results) else 0


if __name__ == "__main__":
    sys.exit(main())
