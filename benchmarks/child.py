"""One benchmark subprocess: ``python -m benchmarks.child SPEC_JSON``.

Runs one workload of one library and prints its result as one JSON line after
``RESULT_MARK``; libraries may print what they like on other lines. The process then
exits at once, without waiting for tasks a peer's worker may have left running.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys

from .harness import RESULT_MARK
from .workloads import run


def main() -> None:
    spec = json.loads(sys.argv[1])
    loop = asyncio.new_event_loop()
    result = loop.run_until_complete(run(spec))
    sys.stdout.write(RESULT_MARK + json.dumps(result) + "\n")
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(0)


if __name__ == "__main__":
    main()
