#!/usr/bin/env bash
# Run the main example, the word-count service (examples/wordcount/run.py), after
# scripts/setup.sh. It starts a private redis-server unless REDIS_URL is set, e.g.
#   REDIS_URL=redis://127.0.0.1:6379/0 bash scripts/example.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exec .venv/bin/python examples/wordcount/run.py "$@"
