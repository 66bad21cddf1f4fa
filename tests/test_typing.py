"""mypy --strict sees the types of typed tasks and of the worker lifespan's value."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

SNIPPET = """
from dataclasses import dataclass

from aioredisjobqueue import RedisJobQueue, Tasks, worker_state

tasks = Tasks()


@dataclass
class Resources:
    greeting: str


@tasks.task(timeout=5)
async def send_email(to: str, subject: str, urgent: bool = False) -> int:
    reveal_type(worker_state(Resources))
    return len(to)


async def main(queue: RedisJobQueue) -> None:
    reveal_type(await send_email.put(queue, to="a@b.c", subject="hi"))
    reveal_type(await send_email("a@b.c", "hi"))
    await send_email.put(queue, to=1, subject="hi")
    await send_email.put(queue, to="a@b.c")
    await send_email.with_options(delay=1).put(queue, to="a@b.c", subject="hi", cc="x")
"""


def test_mypy_checks_task_arguments_and_knows_the_lifespan_type(
    tmp_path: Path, project_root: Path
) -> None:
    (tmp_path / "service.py").write_text(textwrap.dedent(SNIPPET))
    # the package from its source folder (mypy does not follow an editable install's hook)
    env = {**os.environ, "MYPYPATH": str(project_root)}
    run = subprocess.run(
        [sys.executable, "-m", "mypy", "--strict", "--no-incremental", "service.py"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip
    out = run.stdout
    assert 'Revealed type is "service.Resources"' in out, out
    assert 'Revealed type is "str"' in out, out  # the job id
    assert 'Revealed type is "int"' in out, out  # what the task returns
    assert 'Argument "to" to "put" of "Task" has incompatible type "int"' in out, out
    assert 'Missing positional argument "subject" in call to "put" of "Task"' in out, out
    assert 'Unexpected keyword argument "cc" for "put" of "Task"' in out, out
    assert "Found 3 errors" in out, out
