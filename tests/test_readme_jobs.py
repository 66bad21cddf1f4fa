"""The README's examples of jobs by id (status, cancel, results, keys) run as written."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

SECTION = "## Jobs by id"


def examples() -> dict[str, str]:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found: dict[str, str] = {}
    heading = ""
    for part in re.split(r"(?m)^(### .*)$", section):
        if part.startswith("### "):
            heading = part[4:].strip()
        for code in re.findall(r"```python\n(.*?)```", part, re.S):
            found[heading] = code
    return found


# what each example prints, line by line (a line may hold more than this)
EXPECTED = {
    "Where is job X: `status()`": ["delayed", "locked", "waiting 1 ConnectionError: SMTP"],
    "Cancel: `cancel()`": ["True", "handler cancelled", "None"],
    "Results: `complete(result=...)` and `result()`": ["42", "completed"],
    "A chosen key": ["True", "already queued: True", "True"],
}


def test_every_example_is_checked() -> None:
    assert set(examples()) == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_readme_example_runs(name: str, redis_server: RedisServer, tmp_path: Path) -> None:
    script = tmp_path / "example.py"
    script.write_text(examples()[name])
    env = {**os.environ, "REDIS_URL": redis_server.url, "PYTHONUNBUFFERED": "1"}
    for _ in range(2):  # a second run finds the first one's leftovers
        run = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
        assert run.returncode == 0, run.stdout + run.stderr
        lines = run.stdout.splitlines()
        assert len(lines) == len(EXPECTED[name]), run.stdout
        for line, expected in zip(lines, EXPECTED[name], strict=True):
            assert line.startswith(expected), run.stdout
