#!/usr/bin/env bash
# Lint, format check, type check and tests, after scripts/setup.sh. Extra arguments go to
# pytest, e.g.  bash scripts/test.sh -x -k consume
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh

echo "test: ruff check" >&2
.venv/bin/ruff check .
echo "test: ruff format --check" >&2
.venv/bin/ruff format --check .
echo "test: mypy" >&2
.venv/bin/mypy
echo "test: pytest $*" >&2
.venv/bin/pytest --durations=10 "$@"
