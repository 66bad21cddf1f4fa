"""``aioredisjobqueue web``: its errors, in a subprocess as users run it (the pages it
serves are tested in test_web_browser.py, which runs this command)."""

from __future__ import annotations

from pathlib import Path

import pytest
from test_cli import assert_one_line_error, cli

from aioredisjobqueue.testing import RedisServer, free_port


def test_web_without_the_web_extra_says_what_to_install(tmp_path: Path) -> None:
    # a starlette that cannot be imported stands for one that is not installed
    (tmp_path / "starlette").mkdir()
    (tmp_path / "starlette" / "__init__.py").write_text(
        "raise ModuleNotFoundError(\"No module named 'starlette'\", name='starlette')\n"
    )
    result = cli("web", env={"PYTHONPATH": str(tmp_path)})
    assert_one_line_error(result, 1, "the dashboard needs starlette")
    assert "pip install 'aioredisjobqueue[web]'" in result.stderr


def test_web_refuses_a_bad_queue_name(redis_server: RedisServer) -> None:
    result = cli("web", "--queue", "a{b}", url=redis_server.url)
    assert_one_line_error(result, 2, "Invalid value for --queue: queue_name must not contain")


@pytest.mark.real_redis
def test_web_without_redis_fails_at_once_in_one_line() -> None:
    url = f"redis://127.0.0.1:{free_port()}/0"
    result = cli("web", url=url)
    assert_one_line_error(result, 1, f"cannot reach Redis at {url}")
