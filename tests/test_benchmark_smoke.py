"""The benchmark harness end to end: ``python -m benchmarks --smoke`` in a subprocess.

The smoke run covers aioredisjobqueue and the bare-redis baseline only, so it needs no peer
installed; it starts its own redis-server.
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

# each run takes some 5-15 s; the bounds only catch a hang, on however loaded a machine
pytestmark = pytest.mark.timeout(300)
RUN_WITHIN = 240

SMOKE_N = 200


def _tables(text: str) -> dict[str, list[list[str]]]:
    """Each section's table rows (header and separator dropped), cells stripped."""
    tables: dict[str, list[list[str]]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("| ") and section:
            tables.setdefault(section, []).append([c.strip() for c in line.strip("|").split("|")])
    return {name: rows[1:] for name, rows in tables.items()}  # rows[0] is the header


def _headers(text: str) -> dict[str, list[str]]:
    """Each section's table header cells."""
    headers: dict[str, list[str]] = {}
    section = ""
    for line in text.splitlines():
        if line.startswith("## "):
            section = line[3:]
        elif line.startswith("| ") and section and section not in headers:
            headers[section] = [c.strip() for c in line.strip("|").split("|")]
    return headers


def _number(cell: str) -> float:
    """The median of a ``median (min-max)`` cell."""
    return float(cell.split()[0].replace(",", ""))


def _memory_by_key(text: str, lib: str) -> dict[str, Any]:
    """The '6. Memory by key' part of ``lib``: its rows and the per-job sum it states."""
    part = text.split("## 6. Memory by key", 1)[1].split(f"**{lib}**:", 1)[1]
    part = part.split("\n## ", 1)[0].split("\n**", 1)[0]
    stated = re.search(r"sums to ([\d,.]+) B per job", part)
    assert stated is not None, part
    rows = [
        [c.strip() for c in line.strip("|").split("|")]
        for line in part.splitlines()
        if line.startswith("| ") and not line.startswith("| key |")
    ]
    return {"rows": rows, "sum": _number(stated.group(1))}


def test_smoke_run_prints_a_verified_table(project_root: Path, tmp_path: Path) -> None:
    output = tmp_path / "smoke.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--output", str(output)],
        cwd=project_root,
        capture_output=True,
        text=True,
        timeout=RUN_WITHIN,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    text = proc.stdout
    assert output.read_text() == text
    assert output.with_suffix(".json").exists()
    assert "FAILED" not in text
    assert "ERROR" not in proc.stderr

    tables = _tables(text)
    sections = ["1. Enqueue", "2. Drain", "3. Pickup latency", "4. Redis cost", "5. Depth"]
    for name in sections:
        assert tables.get(name), f"no table rows under '## {name}'"
    for name in sections:
        for row in tables[name][:]:
            if row[0] == "redis: PING" and name == "5. Depth":
                continue
            assert row[-1].startswith("ok"), (name, row)

    drained = {row[0]: row for row in tables["2. Drain"]}
    header = _headers(text)["2. Drain"]
    rate, share = header.index("jobs/s"), header.index("share of floor")
    floor = drained["redis: job bodies only"]
    assert floor[share] == "100%", floor
    for row in drained.values():
        # each row's median jobs/s as a share of the floor's median jobs/s
        want = _number(row[rate]) / _number(floor[rate]) * 100
        shown = row[share].rstrip("%")
        # off by at most half the last digit shown (shares are shown with 0 to 2 decimals),
        # and a little for the rates' own rounding to whole jobs/s
        decimals = len(shown.partition(".")[2])
        assert abs(float(shown) - want) <= 0.5 * 10**-decimals + want * 0.001, row
    assert set(drained) == {
        "redis: job bodies only",
        "aioredisjobqueue consume",
        "aioredisjobqueue get_many(100)",
        "aioredisjobqueue Worker",
    }
    for row in drained.values():
        # every job executed exactly once, counted in Redis and in the worker
        assert row[-1] == f"ok {SMOKE_N}/{SMOKE_N}", row
    # where a queued job's bytes go: each of the queue's keys, summing to the total shown
    ours = _memory_by_key(text, "aioredisjobqueue")
    assert ours["rows"], ours
    assert all(row[0].startswith("`ajq:{bench}:") for row in ours["rows"]), ours
    listed = sum(_number(row[4]) for row in ours["rows"])
    assert abs(listed - ours["sum"]) <= 0.01 * len(ours["rows"]) + 0.01 * ours["sum"], ours
    libraries = {row[0] for row in tables["1. Enqueue"]}
    assert {"redis: PING (one round trip)", "redis: SET unique key", "aioredisjobqueue"} <= (
        libraries
    )
    pickup = {row[0]: row for row in tables["3. Pickup latency"]}
    assert set(pickup) == {"aioredisjobqueue consume", "aioredisjobqueue Worker"}
    header = _headers(text)["3. Pickup latency"]
    for row in pickup.values():
        assert row[-1].startswith("ok 20/20"), row
        # the job after the silence was picked up, and the idle worker's requests counted
        assert _number(row[header.index("after 3 s idle ms")]) > 0, row
        assert _number(row[header.index("idle requests/s")]) >= 0, row


def test_worker_benchmark_prints_its_table(project_root: Path, tmp_path: Path) -> None:
    output = tmp_path / "worker.md"
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks.worker", "--n", "300", "--repeat", "1",
         "--output", str(output)],
        cwd=project_root, capture_output=True, text=True, timeout=RUN_WITHIN,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert output.read_text() == proc.stdout
    rows = {
        cells[0]: cells[1]
        for cells in (
            [c.strip() for c in line.strip("|").split("|")]
            for line in proc.stdout.splitlines()
            if line.startswith("| ")
        )
    }
    assert float(rows["drain: Worker, jobs/s"].split()[0].replace(",", "")) > 0
    handover = rows["hand-over after stop(grace=0), ms (10 jobs, 60 s locks)"].split()[0]
    assert float(handover.replace(",", "")) < 60_000
    # the long handler ran once, and the rival never got its job
    assert rows["handler at 10x its lock: runs / rival takes (each repeat)"] == "1 / 0"


def test_n_of_gives_a_library_fewer_drain_jobs_and_says_so(
    project_root: Path, tmp_path: Path
) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--smoke", "--workloads", "drain",
         "--n-of", "aioredisjobqueue=50", "--output", str(tmp_path / "fewer.md")],
        cwd=project_root, capture_output=True, text=True, timeout=RUN_WITHIN,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-3000:]
    drained = {row[0]: row for row in _tables(proc.stdout)["2. Drain"]}
    assert drained["redis: job bodies only"][-1] == f"ok {SMOKE_N}/{SMOKE_N}"
    for variant in ("consume", "get_many(100)", "Worker"):
        assert drained[f"aioredisjobqueue {variant} (N=50)"][-1] == "ok 50/50"
    assert "Fewer jobs for some (`--n-of`): aioredisjobqueue 50" in proc.stdout


def test_n_of_refuses_a_count_that_is_not_a_number(project_root: Path) -> None:
    proc = subprocess.run(
        [sys.executable, "-m", "benchmarks", "--n-of", "rq=many"],
        cwd=project_root, capture_output=True, text=True, timeout=60,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "--n-of: expected LIB=N with N >= 1, got 'rq=many'" in proc.stderr
