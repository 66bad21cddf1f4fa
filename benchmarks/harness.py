"""The parent's tools: a private redis-server, the subprocess runner, statistics."""

from __future__ import annotations

import json
import math
import os
import signal
import statistics
import subprocess
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "BENCH-RESULT "


class RedisServer:
    """A redis-server on a free loopback port, persistence off, in a temporary directory.

    ``aioredisjobqueue.testing.RedisServer`` with ``reset()`` and ``info()``; raises
    SystemExit when redis-server is not on the PATH.
    """

    def __init__(self) -> None:
        # imported here, not above: the children import this module too, in venvs that
        # have neither pytest nor this package's dependencies (arq's own venv)
        from aioredisjobqueue._server import RedisServer as Server

        try:
            self._server = Server()
        except RuntimeError as exc:
            raise SystemExit(str(exc)) from None

    @property
    def port(self) -> int:
        return self._server.port

    @property
    def url(self) -> str:
        return self._server.url

    def start(self) -> None:
        self._server.start()

    def stop(self) -> None:
        """Stop the server and remove its directory."""
        self._server.stop()

    def reset(self) -> None:
        """Empty the server between runs: keys, cached scripts and functions."""
        with redis.Redis(port=self.port) as client:
            client.flushall()
            client.script_flush()
            client.function_flush()

    def info(self) -> dict[str, Any]:
        with redis.Redis(port=self.port) as client:
            info: dict[str, Any] = client.info("server")
            return info

    def __enter__(self) -> RedisServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()


@dataclass(frozen=True, slots=True)
class ChildResult:
    """What one subprocess reported: its JSON result, or why there is none."""

    data: dict[str, Any] | None
    error: str | None
    seconds: float
    # the machine's 1-minute load average as the run started (the machine is shared)
    load: float = math.nan


def run_child(python: str, spec: dict[str, Any], timeout: float) -> ChildResult:
    """Run ``python -m benchmarks.child SPEC`` in its own session and read its result line.

    A child that outlives ``timeout`` is killed with its whole process group.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
    load = os.getloadavg()[0]
    started = time.monotonic()
    proc = subprocess.Popen(
        [python, "-m", "benchmarks.child", json.dumps(spec)],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    try:
        out, err = proc.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
        return ChildResult(
            None, f"timed out after {timeout:.0f} s", time.monotonic() - started, load
        )
    seconds = time.monotonic() - started
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            data: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return ChildResult(data, None, seconds, load)
    tail = " | ".join((err or out).strip().splitlines()[-3:]) or "no output"
    return ChildResult(None, f"exit {proc.returncode}: {tail}", seconds, load)


# -- statistics -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Summary:
    """The median and the range of one figure across repeats."""

    median: float
    low: float
    high: float
    count: int


def summarize(values: Sequence[float]) -> Summary | None:
    finite = [v for v in values if math.isfinite(v)]
    if not finite:
        return None
    return Summary(statistics.median(finite), min(finite), max(finite), len(finite))


def percentile(values: Sequence[float], q: float) -> float:
    """The nearest-rank ``q`` percentile (0 < q <= 100) of ``values``."""
    if not values:
        return math.nan
    ordered = sorted(values)
    rank = max(1, math.ceil(q / 100 * len(ordered)))
    return ordered[rank - 1]
