#!/usr/bin/env bash
# Run the main example, the web service with typed tasks (examples/service/run.py), after
# scripts/setup.sh; the word-count service is the other one: examples/wordcount/run.py.
# It starts a private redis-server unless REDIS_URL is set, e.g.
#   REDIS_URL=redis://127.0.0.1:6379/0 bash scripts/example.sh
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source scripts/setup.sh
exec .venv/bin/python examples/service/run.py "$@"
