"""JsonFormatter: log records as one JSON object per line, for log pipelines."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

__all__ = ["JsonFormatter"]

# What every LogRecord has: the rest of its attributes came from ``extra=``.
_STANDARD = frozenset(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {
    "message",
    "asctime",
    "taskName",
}


class JsonFormatter(logging.Formatter):
    """Formats a record as one line of JSON: ``time`` (ISO 8601, UTC), ``level``,
    ``logger``, ``message``, then every field given with ``extra=`` (the library gives
    ``queue``, ``job_id``, ``task``, ``delivery``, ``duration``, ``error``, ``event``,
    ``retry_in`` and ``worker`` where it knows them), and ``traceback`` with
    ``exc_info``. Values JSON cannot hold are written as their ``str()``.

    ``handler.setFormatter(JsonFormatter())`` on any ``logging`` handler.
    """

    def format(self, record: logging.LogRecord) -> str:
        line: dict[str, Any] = {
            "time": dt.datetime.fromtimestamp(record.created, dt.UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                line[key] = value
        if record.exc_info:
            line["traceback"] = self.formatException(record.exc_info)
        elif record.exc_text:
            line["traceback"] = record.exc_text
        if record.stack_info:
            line["stack"] = self.formatStack(record.stack_info)
        return json.dumps(line, ensure_ascii=False, default=str)
