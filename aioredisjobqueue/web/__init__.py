"""The web dashboard: queues, their jobs, dead letters and workers, in a browser.

Install with ``pip install 'aioredisjobqueue[web]'`` (Starlette; uvicorn for the
``aioredisjobqueue web`` command). ``app(url=...)`` is an ASGI app to serve, or to mount in
your own Starlette or FastAPI app behind your own authentication::

    from aioredisjobqueue.web import app as dashboard

    main_app.mount("/jobs", dashboard(url="redis://localhost:6379/0"))

Pages: ``/`` every queue with its counts, rates and workers; ``/queue/NAME`` its ready,
delayed and locked jobs, a page at a time; ``/dead/NAME`` its dead letters; ``/job/NAME?id=ID``
one job. The JSON they poll is under ``/api/``. Requeueing and deleting dead letters are off
unless ``actions=True``.
"""

from __future__ import annotations

try:
    from ._app import app
except ModuleNotFoundError as exc:  # pragma: no cover - depends on the installed extras
    if exc.name != "starlette":
        raise
    raise ModuleNotFoundError(
        "aioredisjobqueue.web needs starlette: pip install 'aioredisjobqueue[web]'",
        name="starlette",
    ) from exc

__all__ = ["app"]
