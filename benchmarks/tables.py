"""One row of a report across repeats, and the cells of its tables: numbers, ranges, ratios."""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from .harness import ChildResult, Summary, summarize
from .libs import BASELINE


@dataclass
class Meta:
    command: str
    args: dict[str, Any]
    started: float
    seconds: float
    redis_version: str
    infos: dict[str, dict[str, Any]]
    skipped: dict[str, str]
    venvs: dict[str, str | None]


Results = dict[tuple[str, str, str], list[ChildResult]]

DASH = "\u2014"
EN_DASH = "\u2013"
TIMES = "\u00d7"

# The check whose numbers a row's "check" cell shows.
_PRIMARY = {"enqueue": "single", "drain": "executed", "latency": "received", "memory": "queued"}


@dataclass
class Row:
    """One (workload, library, variant) across repeats."""

    metrics: dict[str, Summary]
    failures: list[str]
    checked: list[str]
    extra: dict[str, Any] = field(default_factory=dict)
    notes: list[str] = field(default_factory=list)

    def get(self, name: str) -> Summary | None:
        return self.metrics.get(name)

    def median(self, name: str) -> float:
        s = self.metrics.get(name)
        return s.median if s is not None else math.nan

    @property
    def check(self) -> str:
        if self.failures:
            return "FAILED: " + "; ".join(self.failures)
        shown = sorted(set(self.checked))
        return "ok" + (" " + ", ".join(shown) if shown else "")


def aggregate(workload: str, runs: Sequence[ChildResult]) -> Row:
    values: dict[str, list[float]] = {}
    failures: list[str] = []
    checked: list[str] = []
    extra: dict[str, Any] = {}
    notes: list[str] = []
    for k, run in enumerate(runs, 1):
        if run.data is None:
            failures.append(f"run {k}: {run.error}")
            continue
        for name, value in run.data.get("metrics", {}).items():
            values.setdefault(name, []).append(float(value))
        for name, (got, want) in run.data.get("checks", {}).items():
            if got != want:
                failures.append(f"run {k}: {name} {got}/{want}")
            elif name == _PRIMARY.get(workload):
                checked.append(f"{got}/{want}")
        extra = run.data.get("extra", extra)
        notes += [f"run {k}: {note}" for note in run.data.get("notes", [])]
    metrics = {name: s for name, vs in values.items() if (s := summarize(vs)) is not None}
    return Row(metrics, failures, checked, extra, notes)


def failures(results: Results) -> list[str]:
    out = []
    for (workload, lib, variant), runs in results.items():
        row = aggregate(workload, runs)
        if row.failures:
            out.append(f"{workload} {lib} {variant}: {row.check}")
    return out


# -- formatting ------------------------------------------------------------------------------


def num(x: float) -> str:
    if not math.isfinite(x):
        return DASH
    if abs(x) >= 999.5:  # what rounds to 1,000 gets its comma too
        return f"{x:,.0f}"
    if abs(x) >= 100:
        return f"{x:.0f}"
    if abs(x) >= 10:
        return f"{x:.1f}"
    return f"{x:.2f}"


def span(s: Summary | None) -> str:
    """``median (min-max)``, with an en dash; the median alone for one run."""
    if s is None:
        return DASH
    if s.count == 1 or num(s.low) == num(s.high):
        return num(s.median)
    return f"{num(s.median)} ({num(s.low)}{EN_DASH}{num(s.high)})"


def ratio(a: float, b: float) -> str:
    if not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return DASH
    return f"{a / b:.2f}{TIMES}"


def share(a: float, b: float) -> str:
    """``a`` as a percentage of ``b``, 0 to 2 decimals by size."""
    if not (math.isfinite(a) and math.isfinite(b)) or b == 0:
        return DASH
    pct = a / b * 100
    if pct >= 10:
        return f"{pct:.0f}%"
    if pct >= 1:
        return f"{pct:.1f}%"
    return f"{pct:.2f}%"


def table(header: Sequence[str], rows: Iterable[Sequence[str]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(cell.replace("|", "\\|") for cell in row) + " |" for row in rows]
    return lines


def label(lib: str, variant: str) -> str:
    if lib == BASELINE:
        return f"redis: {variant}" if variant else "redis"
    return f"{lib} {variant}".strip()
