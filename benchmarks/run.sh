#!/usr/bin/env bash
# Install the peers, then run the side-by-side benchmark; arguments go to `python -m benchmarks`.
#
#   bash benchmarks/run.sh                 # full run; report in benchmarks/results/latest.md
#   bash benchmarks/run.sh --smoke         # seconds: aioredisjobqueue and bare redis only
#   bash benchmarks/run.sh --only aioredisjobqueue,arq --workloads drain --n 20000
#
# scripts/setup.sh makes .venv (the package, its test tools) and puts redis-server on the
# PATH. Then `pip install --group bench` (a dependency group of pyproject.toml) adds saq, streaq, taskiq(-redis) and rq to .venv,
# and arq gets a venv of its own, benchmarks/.venv-arq: arq >= 0.26 requires redis<6, and
# this project needs redis>=8. Both installs run again only when pyproject.toml or
# benchmarks/requirements-arq.txt changed. --smoke installs no peer.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

_bench_say() { printf 'bench: %s\n' "$*" >&2; }
_bench_quiet() {
    local log
    log="$(mktemp)"
    if "$@" >"$log" 2>&1; then
        rm -f "$log"
        return 0
    fi
    printf 'bench: command failed: %s\n' "$*" >&2
    tail -n 25 "$log" | sed 's/^/  | /' >&2
    rm -f "$log"
    return 1
}
_bench_hash() { cat "$@" | .venv/bin/python -c 'import hashlib, sys; print(hashlib.sha256(sys.stdin.buffer.read()).hexdigest())'; }

smoke=0
for arg in "$@"; do
    [[ "$arg" == "--smoke" ]] && smoke=1
done

if [[ "$smoke" == 0 ]]; then
    want="$(_bench_hash pyproject.toml)"
    if [[ "$(cat .venv/.ajq-bench-stamp 2>/dev/null)" != "$want" ]]; then
        _bench_say "pip install --group bench into .venv"
        _bench_quiet .venv/bin/python -m pip install --disable-pip-version-check \
            --group pyproject.toml:bench
        printf '%s\n' "$want" >.venv/.ajq-bench-stamp
    fi
    arq_venv=benchmarks/.venv-arq
    want="$(_bench_hash benchmarks/requirements-arq.txt)"
    if [[ "$(cat "$arq_venv/.ajq-bench-stamp" 2>/dev/null)" != "$want" ]] ||
        ! "$arq_venv/bin/python" -c 'import arq' >/dev/null 2>&1; then
        base_python="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"
        _bench_say "making $arq_venv (arq with redis<6) with $base_python"
        rm -rf "$arq_venv"
        _bench_quiet "$base_python" -m venv "$arq_venv"
        _bench_quiet "$arq_venv/bin/python" -m pip install --disable-pip-version-check \
            -r benchmarks/requirements-arq.txt
        printf '%s\n' "$want" >"$arq_venv/.ajq-bench-stamp"
    fi
fi

BENCH_COMMAND="bash benchmarks/run.sh${*:+ $*}"
export BENCH_COMMAND
exec .venv/bin/python -m benchmarks "$@"
