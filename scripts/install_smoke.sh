#!/usr/bin/env bash
# Install smoke test, run by .ci/run after the tests: build a wheel of this checkout, install
# it with plain `pip install` (no extras) into a fresh venv, and check what a user gets:
#   - the metadata: the version of aioredisjobqueue.__version__, the MIT license file,
#     project URLs, and only the users' extras (no test, bench or examples);
#   - `aioredisjobqueue stats`, `put` and `--version` against a real redis-server;
#   - aioredisjobqueue.testing's RedisServer without pytest installed.
# Needs scripts/setup.sh first (.venv, redis-server). Takes about half a minute.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
work="$(mktemp -d)"
server_pid=""
cleanup() {
    if [[ -n "$server_pid" ]]; then kill "$server_pid" 2>/dev/null || true; fi
    rm -rf "$work"
}
trap cleanup EXIT
say() { printf 'smoke: %s\n' "$*" >&2; }

say "building a wheel"
.venv/bin/python -m pip wheel --quiet --no-deps --wheel-dir "$work/dist" . >"$work/build.log" 2>&1 ||
    { cat "$work/build.log" >&2; exit 1; }
wheel="$(ls "$work"/dist/aioredisjobqueue-*.whl)"
base_python="$(.venv/bin/python -c 'import sys; print(sys._base_executable)')"
say "installing $(basename "$wheel") into a fresh venv, no extras"
"$base_python" -m venv "$work/venv"
"$work/venv/bin/python" -m pip install --quiet --disable-pip-version-check "$wheel" \
    >"$work/install.log" 2>&1 || { cat "$work/install.log" >&2; exit 1; }
if "$work/venv/bin/python" -c 'import pytest' 2>/dev/null; then
    say "pytest got installed without the testing extra"
    exit 1
fi

say "checking the metadata"
"$work/venv/bin/python" - <<'PY'
from importlib.metadata import distribution

import aioredisjobqueue

dist = distribution("aioredisjobqueue")
meta = dist.metadata
assert meta["Version"] == aioredisjobqueue.__version__, (meta["Version"], aioredisjobqueue.__version__)
assert meta["License-Expression"] == "MIT", meta["License-Expression"]
assert any(str(f).endswith("LICENSE") for f in dist.files or []), "no LICENSE in the wheel"
extras = set(meta.get_all("Provides-Extra") or [])
assert not extras & {"test", "bench", "examples"}, f"internal extras published: {sorted(extras)}"
urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
assert {"Homepage", "Documentation", "Repository", "Changelog"} <= set(urls), urls
PY

say "running the command line against a redis-server"
port="$("$work/venv/bin/python" -c 'from aioredisjobqueue.testing import free_port; print(free_port())')"
redis-server --port "$port" --bind 127.0.0.1 --save '' --appendonly no --dir "$work" \
    --logfile "$work/redis.log" &
server_pid=$!
url="redis://127.0.0.1:$port/0"
for _ in $(seq 100); do
    redis-cli -p "$port" ping >/dev/null 2>&1 && break
    sleep 0.1
done
cmd="$work/venv/bin/aioredisjobqueue"
"$cmd" --version | grep -q "aioredisjobqueue, version"
"$cmd" put smoke '{"n": 1}' --url "$url" >/dev/null
stats="$("$cmd" stats smoke --json --url "$url")"
"$work/venv/bin/python" -c 'import json, sys
stats = json.loads(sys.argv[1])
assert stats["queue"] == "smoke" and stats["ready"] == 1, stats' "$stats"
"$cmd" stats --url "$url" | grep -q smoke  # the table

say "aioredisjobqueue.testing without pytest"
"$work/venv/bin/python" -c '
from aioredisjobqueue.testing import RedisServer
import redis, sys
with RedisServer() as server:
    assert redis.Redis.from_url(server.url).ping()
assert "pytest" not in sys.modules'
say "ok: pip install gives a working command line ($("$cmd" --version))"
