"""Every Python example of the README runs as written, against the test session's
redis-server: each block is a script, run in a fresh interpreter with ``REDIS_URL`` set.

An example that names ``redis://localhost:6379/0`` (or the old library's
``redis_host="redis-host", redis_port=6379``) gets the session's server there instead.
HTML comments on the line before a block, which the reader does not see, say how to run it:
``<!-- runs until stopped -->`` for a worker or consumer that serves until SIGTERM (it must
keep running, or print, until then, and then end cleanly), and ``<!-- not run: why -->``
for a block that is no program (a summary of calls); this test holds those few to a reason
each.
"""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import pytest

from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

README = Path(__file__).resolve().parent.parent / "README.md"
NOT_RUN = re.compile(r"<!-- not run: (?P<why>[^>]+?) -->\s*$")
UNTIL_STOPPED = "<!-- runs until stopped -->"
# how long a block that runs until stopped gets to print its first line (or crash)
FIRST_OUTPUT_WITHIN = 20.0


@dataclass(frozen=True)
class Block:
    """One ```python block of the README: where it is, and whether it is a program."""

    line: int
    heading: str
    code: str
    not_run: str | None
    until_stopped: bool = False

    @property
    def id(self) -> str:
        slug = re.sub(r"[^a-z0-9]+", "-", self.heading.lower()).strip("-")
        return f"L{self.line}-{slug[:40]}"


def blocks(text: str) -> list[Block]:
    found: list[Block] = []
    lines = text.splitlines()
    heading, i = "", 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("```"):
            fence, start = line, i
            i += 1
            body: list[str] = []
            while i < len(lines) and lines[i] != "```":
                body.append(lines[i])
                i += 1
            if fence.strip() == "```python":
                before = lines[start - 1].strip() if start else ""
                marker = NOT_RUN.match(before)
                why = marker.group("why") if marker else None
                code = "\n".join(body) + "\n"
                found.append(Block(start + 1, heading, code, why, before == UNTIL_STOPPED))
        elif line.startswith("#"):
            heading = line.lstrip("#").strip()
        i += 1
    return found


def for_server(code: str, server: RedisServer) -> str:
    """The example with the session's server where it names a fixed one."""
    code = code.replace("redis://localhost:6379/0", server.url)
    return code.replace('redis_host="redis-host",', 'redis_host="127.0.0.1",').replace(
        "redis_port=6379", f"redis_port={server.port}"
    )


EXAMPLES = blocks(README.read_text())


def test_the_readme_has_examples_and_few_are_not_run() -> None:
    assert len(EXAMPLES) >= 10
    skipped = [b for b in EXAMPLES if b.not_run]
    assert len(skipped) <= 3, [(b.line, b.not_run) for b in skipped]


def test_blocks_are_found_with_their_markers() -> None:
    text = (
        "# A\n\n```python\nprint(1)\n```\n\n## B\n<!-- not run: a summary -->\n```python\nx\n"
        "```\n```bash\nls\n```\n<!-- runs until stopped -->\n```python\nserve()\n```\n"
    )
    assert blocks(text) == [
        Block(3, "A", "print(1)\n", None),
        Block(9, "B", "x\n", "a summary"),
        Block(16, "B", "serve()\n", None, until_stopped=True),
    ]


@pytest.mark.parametrize("block", [b for b in EXAMPLES if not b.not_run], ids=lambda b: b.id)
def test_readme_example_runs_as_written(
    block: Block, redis_server: RedisServer, tmp_path: Path
) -> None:
    script = tmp_path / "example.py"
    script.write_text(for_server(block.code, redis_server))
    env = {**os.environ, "REDIS_URL": redis_server.url, "PYTHONUNBUFFERED": "1"}
    where = f"README.md line {block.line}"
    if not block.until_stopped:
        run = subprocess.run(
            [sys.executable, str(script)],
            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=90, check=False,
        )  # fmt: skip
        assert run.returncode == 0, f"{where}:\n{run.stdout}{run.stderr}"
        return
    out, err = tmp_path / "stdout", tmp_path / "stderr"
    with out.open("w") as stdout, err.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, str(script)], cwd=tmp_path, env=env, stdout=stdout, stderr=stderr
        )
        try:
            # running (and printing, when it has work) until stopped, or it failed early
            deadline = time.monotonic() + FIRST_OUTPUT_WITHIN
            while process.poll() is None and not out.read_text() and time.monotonic() < deadline:
                time.sleep(0.05)
            assert process.poll() is None, f"{where} ended by itself:\n{err.read_text()}"
            process.send_signal(signal.SIGTERM)
            process.wait(timeout=60)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode in (0, -signal.SIGTERM), f"{where}:\n{err.read_text()}"
    assert "Traceback" not in err.read_text(), f"{where}:\n{err.read_text()}"
