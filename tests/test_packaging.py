"""The package's metadata as pip sees it: one version, the license, the command line in the
base install, no internal extras. (The install itself, from a wheel into a fresh venv
without extras, is checked by scripts/install_smoke.sh, which .ci/run runs.)"""

from __future__ import annotations

import tomllib
from importlib.metadata import distribution
from pathlib import Path

import aioredisjobqueue


def pyproject(root: Path) -> dict[str, object]:
    return tomllib.loads((root / "pyproject.toml").read_text())


def test_the_version_is_written_once(project_root: Path) -> None:
    project = pyproject(project_root)["project"]
    assert isinstance(project, dict)
    assert "version" not in project and project["dynamic"] == ["version"]
    tool = pyproject(project_root)["tool"]
    assert isinstance(tool, dict)
    assert tool["setuptools"]["dynamic"]["version"] == {"attr": "aioredisjobqueue.__version__"}
    assert distribution("aioredisjobqueue").version == aioredisjobqueue.__version__


def test_the_command_line_is_in_the_base_install() -> None:
    requires = distribution("aioredisjobqueue").requires or []
    base = {r.split(">")[0].split("[")[0].strip() for r in requires if "extra ==" not in r}
    assert {"click", "rich", "redis", "anyio"} <= base


def test_internal_extras_are_not_published() -> None:
    extras = set(distribution("aioredisjobqueue").metadata.get_all("Provides-Extra") or [])
    assert "testing" in extras and "cli" in extras  # cli: empty, for older install lines
    assert not extras & {"test", "bench", "examples"}, extras


def test_license_changelog_and_urls(project_root: Path) -> None:
    meta = distribution("aioredisjobqueue").metadata
    assert meta["License-Expression"] == "MIT"
    license_text = (project_root / "LICENSE").read_text()
    assert license_text.startswith("MIT License")
    assert "Copyright (c) 2026 the aioredisjobqueue authors" in license_text
    changelog = (project_root / "CHANGELOG.md").read_text()
    assert "## [Unreleased]" in changelog and "## [0.1.0] - " in changelog
    urls = dict(u.split(", ", 1) for u in meta.get_all("Project-URL") or [])
    assert {"Homepage", "Documentation", "Repository", "Issues", "Changelog"} <= set(urls)
