"""How long a request to an S3 index may take: the one place that decides.

An explicit ``timeout``, else the CLI's ``--timeout`` for the command being run, else
``$DIOPTRA_PLUGINS_TIMEOUT``, else :data:`DEFAULT_TIMEOUT` seconds.
"""

from __future__ import annotations

import math
import os

from dioptra_plugins.errors import ConfigurationError, UsageError

TIMEOUT_VARIABLE = "DIOPTRA_PLUGINS_TIMEOUT"
DEFAULT_TIMEOUT = 10.0
"""Seconds to connect and for each read, per attempt; with botocore's 3 attempts an endpoint
that accepts connections and never answers fails in about 30 s."""
MIN_TIMEOUT = 0.001
MAX_TIMEOUT = 86_400.0
"""A day per attempt: far beyond any sane wait, and far below what the socket layer can hold
(1e11 seconds overflows its time_t)."""

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
        value = math.nan
    if not _acceptable(value):
        raise ConfigurationError(
            f"{TIMEOUT_VARIABLE}={text!r} is not a number of seconds between {MIN_TIMEOUT:g} "
            f"and {MAX_TIMEOUT:g}",
            variable=TIMEOUT_VARIABLE,
            value=text,
        )
    return value


def _acceptable(value: float) -> bool:
    return math.isfinite(value) and MIN_TIMEOUT <= value <= MAX_TIMEOUT


def _checked_timeout(value: float, source: str) -> float:
    if not _acceptable(value):
        raise UsageError(
            f"{source} must be a positive number of seconds between {MIN_TIMEOUT:g} and "
            f"{MAX_TIMEOUT:g}, not {value!r}"
        )
    return float(value)
