"""How long a request to an S3 index may take: the one place that decides.

An explicit ``timeout``, else the CLI's ``--timeout`` for the command being run, else
``$DIOPTRA_PLUGINS_TIMEOUT``, else :data:`DEFAULT_TIMEOUT` seconds.
"""

from __future__ import annotations

import math
import os

from dioptra_plugins.errors import UsageError

TIMEOUT_VARIABLE = "DIOPTRA_PLUGINS_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
"""Seconds to connect and for each read, per attempt; with botocore's 3 attempts an endpoint
that accepts connections and never answers fails in about 30 s."""

# Set by the CLI's --timeout for the duration of one command (see cli/options.py).
_command_timeout: float | None = None


def set_command_timeout(seconds: float | None) -> None:
    """The timeout of storages opened until it is reset with ``None`` (the CLI's --timeout)."""
    global _command_timeout
    _command_timeout = None if seconds is None else _checked_timeout(seconds, "--timeout")


def index_timeout(timeout: float | None = None) -> float:
    """``timeout``, else --timeout, else ``$DIOPTRA_PLUGINS_TIMEOUT``, else 10 seconds."""
    if timeout is not None:
        return _checked_timeout(timeout, "timeout")
    if _command_timeout is not None:
        return _command_timeout
    text = os.environ.get(TIMEOUT_VARIABLE, "").strip()
    if not text:
        return DEFAULT_TIMEOUT
    try:
        value = float(text)
    except ValueError:
        raise UsageError(f"{TIMEOUT_VARIABLE}={text!r} is not a number of seconds") from None
    return _checked_timeout(value, TIMEOUT_VARIABLE)


def _checked_timeout(value: float, source: str) -> float:
    if not math.isfinite(value) or value <= 0:
        raise UsageError(f"{source} must be a positive number of seconds, not {value!r}")
    return float(value)
