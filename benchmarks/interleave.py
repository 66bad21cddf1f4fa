"""Before against after, interleaved in one run: a benchmark run in two trees in turns.

    .venv/bin/python -m benchmarks.interleave BEFORE_DIR AFTER_DIR [--pairs 5]
        [--module benchmarks.pickup] [--args "--n 10000"]

Each pair runs ``python -m MODULE --repeat 1 --json`` in one tree and then in the other
(the order alternates from pair to pair), with this tree's interpreter: the working
directory comes first on ``sys.path``, so each run imports its own tree's package. The
module prints ``{row: {measure: [values]}}``; this prints, per row and measure, the
median (min-max) of each side, the ratio of the medians, and the load average before and
after the run. Copy the module into the before tree if it lacks ``--json``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
from collections import defaultdict


def _run(tree: str, module: str, extra: list[str]) -> dict[str, dict[str, list[float]]]:
    out = subprocess.run(
        [sys.executable, "-m", module, "--repeat", "1", "--json", *extra],
        cwd=tree,
        check=True,
        capture_output=True,
        text=True,
    ).stdout
    return json.loads(out.strip().splitlines()[-1])  # type: ignore[no-any-return]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("before")
    parser.add_argument("after")
    parser.add_argument("--pairs", type=int, default=5)
    parser.add_argument("--module", default="benchmarks.pickup")
    parser.add_argument("--args", default="", help="more arguments for the module")
    args = parser.parse_args()
    load = os.getloadavg()
    got: dict[str, dict[tuple[str, str], list[float]]] = {
        "before": defaultdict(list),
        "after": defaultdict(list),
    }
    for pair in range(args.pairs):
        order = ("before", "after") if pair % 2 == 0 else ("after", "before")
        for side in order:
            tree = args.before if side == "before" else args.after
            for row, measures in _run(tree, args.module, args.args.split()).items():
                for measure, values in measures.items():
                    got[side][(row, measure)].extend(values)
    end = os.getloadavg()
    print(
        f"{args.module}, {args.pairs} interleaved pairs; load average (1, 5, 15 min) "
        f"{load[0]:.2f} {load[1]:.2f} {load[2]:.2f} before, {end[0]:.2f} {end[1]:.2f} "
        f"{end[2]:.2f} after"
    )
    print("| row | measure | before | after | after / before |")
    print("|---|---|---|---|---|")
    for key, values in got["before"].items():
        after = got["after"].get(key, [])
        if not after:
            continue
        b, a = statistics.median(values), statistics.median(after)
        print(
            f"| {key[0]} | {key[1]} | {b:.2f} ({min(values):.2f}-{max(values):.2f}) "
            f"| {a:.2f} ({min(after):.2f}-{max(after):.2f}) | {a / b:.2f} |"
        )


if __name__ == "__main__":
    main()
