"""The README's examples of a service on the Worker run as written and end by themselves."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

SECTION = "## A service on the Worker"


def examples() -> list[tuple[str, str]]:
    readme = (Path(__file__).resolve().parent.parent / "README.md").read_text()
    section = readme.split(SECTION, 1)[1].split("\n## ", 1)[0]
    found: list[tuple[str, str]] = []
    heading = ""
    for part in re.split(r"(?m)^(### .*)$", section):
        if part.startswith("### "):
            heading = part[4:].strip()
            continue
        for n, code in enumerate(re.findall(r"```python\n(.*?)```", part, re.S)):
            found.append((f"{heading} #{n + 1}", code))
    return found


def test_the_section_has_examples() -> None:
    assert len(examples()) >= 3


@pytest.mark.parametrize(("name", "code"), examples(), ids=[name for name, _ in examples()])
def test_readme_example_runs(
    name: str, code: str, redis_server: RedisServer, tmp_path: Path
) -> None:
    script = tmp_path / "example.py"
    script.write_text(code)
    env = {**os.environ, "REDIS_URL": redis_server.url, "PYTHONUNBUFFERED": "1"}
    run = subprocess.run(
        [sys.executable, str(script)],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert run.stdout, run.stderr
