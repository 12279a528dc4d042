"""Logging set-up for the CLI and for entry-point scripts.

``configure()`` reads ``DIOPTRA_JOB_LOG_LEVEL`` and ``DIOPTRA_JOB_LOG_AS_JSON`` when not told
otherwise, so an entry-point script gets the same log format as the worker that ran it.  Logs
go to stderr, never stdout: stdout is for results and ``--json`` documents.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from typing import IO

_TRUE = {"1", "true", "yes", "on"}


class JsonLinesFormatter(logging.Formatter):
    """One JSON object per record: time, level, logger, message (and exception text)."""

    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(record.created))
            + f".{int(record.msecs):03d}Z",
            "level": record.levelname.lower(),
            "logger": record.name,
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry)


def configure(
    level: int | str | None = None,
    as_json: bool | None = None,
    stream: IO[str] | None = None,
) -> logging.Logger:
    """Configure the ``dioptra_plugins`` logger (and the root logger's handler) once.

    ``level`` defaults to ``$DIOPTRA_JOB_LOG_LEVEL`` (else WARNING), ``as_json`` to
    ``$DIOPTRA_JOB_LOG_AS_JSON``.  Calling it again replaces the handler instead of adding one.
    """
    if level is None:
        level = os.environ.get("DIOPTRA_JOB_LOG_LEVEL", "").strip().upper() or "WARNING"
    level = _level_number(level)
    if as_json is None:
        as_json = os.environ.get("DIOPTRA_JOB_LOG_AS_JSON", "").strip().lower() in _TRUE
    handler = logging.StreamHandler(stream or sys.stderr)
    handler.set_name("dioptra_plugins")
    if as_json:
        handler.setFormatter(JsonLinesFormatter())
    else:
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
    root = logging.getLogger()
    for existing in list(root.handlers):
        if existing.get_name() == "dioptra_plugins":
            root.removeHandler(existing)
    root.addHandler(handler)
    root.setLevel(level)
    return logging.getLogger("dioptra_plugins")


def _level_number(level: int | str) -> int:
    """``"info"``, ``"INFO"``, ``"20"`` or ``20`` -> 20; an unknown name is a usage error."""
    if isinstance(level, int):
        return level
    name = level.strip().upper()
    if name.isdigit():
        return int(name)
    number = logging.getLevelNamesMapping().get(name)
    if number is None:
        from dioptra_plugins.errors import UsageError

        known = "DEBUG, INFO, WARNING, ERROR, CRITICAL"
        raise UsageError(
            f"unknown log level {level!r} (DIOPTRA_JOB_LOG_LEVEL: {known} or a number)"
        )
    return number
