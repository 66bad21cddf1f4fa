"""The libraries benchmarked: one module each, imported only in the child that runs it."""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .base import Adapter

__all__ = ["BASELINE", "LIBS", "OURS", "LibSpec", "load"]


@dataclass(frozen=True, slots=True)
class LibSpec:
    """Where a library's adapter lives, and the venv it runs in (None: the project's)."""

    name: str
    module: str
    attr: str
    venv: str | None = None


BASELINE = "redis"
OURS = "aioredisjobqueue"

LIBS: dict[str, LibSpec] = {
    spec.name: spec
    for spec in (
        LibSpec(BASELINE, "baseline", "BareRedis"),
        LibSpec(OURS, "aioredisjobqueue", "AioRedisJobQueue"),
        # arq >= 0.26 pins redis<6: it runs in a venv of its own (benchmarks/run.sh makes it)
        LibSpec("arq", "arq", "Arq", venv="benchmarks/.venv-arq"),
        LibSpec("saq", "saq", "Saq"),
        LibSpec("streaq", "streaq", "Streaq"),
        LibSpec("taskiq", "taskiq", "TaskiqStream"),
        LibSpec("taskiq-list", "taskiq", "TaskiqList"),
        LibSpec("rq", "rq", "Rq"),
    )
}


def load(name: str) -> type[Adapter]:
    """Import the adapter class of library ``name`` (and so the library itself)."""
    spec = LIBS[name]
    module = importlib.import_module(f"{__name__}.{spec.module}")
    adapter: type[Adapter] = getattr(module, spec.attr)
    return adapter
