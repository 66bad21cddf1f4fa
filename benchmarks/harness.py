"""The parent's tools: a private redis-server, the subprocess runner, statistics."""

from __future__ import annotations

import json
import math
import os
import shutil
import signal
import socket
import statistics
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis

ROOT = Path(__file__).resolve().parent.parent
RESULT_MARK = "BENCH-RESULT "


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


class RedisServer:
    """A redis-server on a free loopback port, persistence off, in a temporary directory."""

    def __init__(self) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            raise SystemExit(
                "redis-server is not on the PATH: install it (Debian: apt-get install redis-server)"
            )
        self._binary = binary
        self._dir = tempfile.TemporaryDirectory(prefix="ajq-bench-")
        self.port = free_port()
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        args = [
            self._binary,
            "--port", str(self.port),
            "--bind", "127.0.0.1",
            "--dir", self._dir.name,
            "--save", "",
            "--appendonly", "no",
        ]  # fmt: skip
        self._process = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if self._process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self._process.returncode}")
            try:
                with redis.Redis(port=self.port, socket_timeout=0.5) as client:
                    if client.ping():
                        return
            except redis.ConnectionError:
                time.sleep(0.02)
        raise RuntimeError("redis-server did not answer PING within 10 s")

    def stop(self) -> None:
        if self._process is not None and self._process.poll() is None:
            self._process.terminate()
            try:
                self._process.wait(10)
            except subprocess.TimeoutExpired:
                self._process.kill()
                self._process.wait()
        self._process = None
        self._dir.cleanup()

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


def run_child(python: str, spec: dict[str, Any], timeout: float) -> ChildResult:
    """Run ``python -m benchmarks.child SPEC`` in its own session and read its result line.

    A child that outlives ``timeout`` is killed with its whole process group.
    """
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH")) if p)
    env.setdefault("PYTHONHASHSEED", "0")
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
        return ChildResult(None, f"timed out after {timeout:.0f} s", time.monotonic() - started)
    seconds = time.monotonic() - started
    for line in reversed(out.splitlines()):
        if line.startswith(RESULT_MARK):
            data: dict[str, Any] = json.loads(line[len(RESULT_MARK) :])
            return ChildResult(data, None, seconds)
    tail = " | ".join((err or out).strip().splitlines()[-3:]) or "no output"
    return ChildResult(None, f"exit {proc.returncode}: {tail}", seconds)


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
