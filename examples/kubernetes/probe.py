"""Run probes as the Kubernetes kubelet does, to try a worker's probes outside a cluster.

    python probe.py [--period 10] [--timeout 1] [--failure-threshold 3] [--rounds N]
                    [--exec "COMMAND ..."]... [--http URL]...

Every --period seconds it runs each probe: an exec probe passes when COMMAND exits 0
within --timeout seconds, an HTTP probe when a GET of URL answers 200-399 within
--timeout seconds (the kubelet's rules). Each result is one JSON line on stdout:
{"at": unix time the probe started, "probe": ..., "ok": ..., "detail": ...}.
It exits 1 as soon as one probe failed --failure-threshold times in a row (where the
kubelet restarts the container, or marks it unready), 0 after --rounds rounds without
that. Only the standard library.
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
import urllib.error
import urllib.request


def exec_probe(command: str, timeout: float) -> tuple[bool, str]:
    try:
        done = subprocess.run(
            shlex.split(command), capture_output=True, text=True, timeout=timeout, check=False
        )
    except subprocess.TimeoutExpired:
        return False, f"no exit within {timeout:g} s"
    output = (done.stdout + done.stderr).strip().splitlines()
    return done.returncode == 0, f"exit {done.returncode}: {output[-1] if output else ''}"


def http_probe(url: str, timeout: float) -> tuple[bool, str]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            status, body = response.status, response.read().decode(errors="replace")
    except urllib.error.HTTPError as exc:
        status, body = exc.code, exc.read().decode(errors="replace")
    except (urllib.error.URLError, OSError) as exc:
        return False, f"no answer: {exc}"
    return 200 <= status < 400, f"{status}: {body.strip()}"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--period", type=float, default=10.0)
    parser.add_argument("--timeout", type=float, default=1.0)
    parser.add_argument("--failure-threshold", type=int, default=3)
    parser.add_argument("--rounds", type=int, default=0, help="0: until a probe fails")
    parser.add_argument("--exec", dest="commands", action="append", default=[])
    parser.add_argument("--http", dest="urls", action="append", default=[])
    args = parser.parse_args()
    probes = [("exec", c) for c in args.commands] + [("http", u) for u in args.urls]
    if not probes:
        parser.error("give at least one --exec or --http probe")
    failures = dict.fromkeys(probes, 0)
    rounds = 0
    while True:
        started = time.monotonic()
        for kind, target in probes:
            at = time.time()
            run = exec_probe if kind == "exec" else http_probe
            ok, detail = run(target, args.timeout)
            print(json.dumps({"at": at, "probe": target, "ok": ok, "detail": detail}), flush=True)
            failures[kind, target] = 0 if ok else failures[kind, target] + 1
            if failures[kind, target] >= args.failure_threshold:
                return 1
        rounds += 1
        if args.rounds and rounds >= args.rounds:
            return 0
        time.sleep(max(0.0, args.period - (time.monotonic() - started)))


if __name__ == "__main__":
    sys.exit(main())
