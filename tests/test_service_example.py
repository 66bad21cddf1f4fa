"""The example service (examples/service/): its app driven over HTTP, with a worker started
by the command line, and the README's example command."""

from __future__ import annotations

import asyncio
import importlib.util
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from types import ModuleType

import httpx
import pytest

from aioredisjobqueue.testing import RedisServer

pytestmark = pytest.mark.real_redis

SERVICE = Path(__file__).resolve().parent.parent / "examples" / "service"


@pytest.fixture(scope="module")
def run_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location("service_run", SERVICE / "run.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def base(run_module: ModuleType, redis_server: RedisServer, tmp_path: Path) -> Iterator[str]:
    asyncio.run(run_module.reset(redis_server.url))
    with run_module.service(redis_server.url, tmp_path) as url:
        yield url


def test_the_app_queues_tasks_a_cli_worker_runs_and_answers_for_them(base: str) -> None:
    with httpx.Client(base_url=base, timeout=30) as client:
        job = client.post("/emails", json={"to": "grace@example.com", "subject": "s"})
        assert job.status_code == 202, job.text
        job_id = job.json()["id"]
        result = client.get(f"/jobs/{job_id}/result", params={"timeout": 20})
        assert result.json() == {"result": {"message": 1}}
        status = client.get(f"/jobs/{job_id}").json()
        assert status["state"] == "completed" and status["result"] == {"message": 1}
        assert client.get(f"/jobs/{'0' * 24}").status_code == 404
        assert client.get("/jobs/not-an-id").status_code == 400
        assert client.delete(f"/jobs/{'0' * 24}").status_code == 404
        unknown = client.post("/emails", json={"to": "a@b.c", "subject": "s", "cc": "x"})
        assert unknown.status_code == 422 and "'cc'" in unknown.json()["error"]


def test_an_idempotency_key_sends_one_email_even_once_the_first_was_sent(base: str) -> None:
    """The second POST under a key is refused while the first email is queued, and also
    after the worker sent it (its result kept): whichever came first."""
    with httpx.Client(base_url=base, timeout=30) as client:
        headers = {"Idempotency-Key": "request-7"}
        first = client.post("/emails", json={"to": "ada@example.com", "subject": "a"},
                            headers=headers)  # fmt: skip
        assert first.status_code == 202, first.text
        job_id = first.json()["id"]
        result = client.get(f"/jobs/{job_id}/result", params={"timeout": 20})
        assert "message" in result.json()["result"], result.text
        again = client.post("/emails", json={"to": "ada@example.com", "subject": "b"},
                            headers=headers)  # fmt: skip
        assert again.status_code == 409, again.text
        assert again.json()["id"] == job_id
        assert client.get("/mailbox").json() == {"count": 1}


def test_the_readme_example_command_shows_the_service_working(project_root: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "REDIS_URL"}  # its own redis-server
    run = subprocess.run(
        [sys.executable, str(SERVICE / "run.py")],
        env={**env, "PYTHONUNBUFFERED": "1"}, capture_output=True, text=True, timeout=180,
    )  # fmt: skip
    assert run.returncode == 0, run.stdout + run.stderr
    assert "WRONG" not in run.stdout
    assert "OK: the service queued, ran, retried, dead-lettered, cancelled" in run.stdout
    assert "scripts/example.sh" in (project_root / "README.md").read_text()
    assert "examples/service/run.py" in (project_root / "scripts" / "example.sh").read_text()
