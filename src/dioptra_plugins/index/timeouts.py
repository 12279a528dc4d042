"""How long a request to an S3 or HTTP index may take: the one place that decides.

An explicit ``timeout`` (a library call's parameter; the command line passes its ``--timeout``
as that), else ``$DIOPTRA_PLUGINS_TIMEOUT``, else :data:`DEFAULT_TIMEOUT` seconds.  Nothing is
kept between calls: whoever opens a storage says which timeout it wants.
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


def index_timeout(timeout: float | None = None) -> float:
    """``timeout``, else ``$DIOPTRA_PLUGINS_TIMEOUT``, else 10 seconds.

    A ``timeout`` out of range is a :class:`UsageError` blaming the parameter ``timeout``; a
    malformed variable a :class:`ConfigurationError` naming it.
    """
    if timeout is not None:
        return _checked_timeout(timeout)
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


def _checked_timeout(value: float) -> float:
    if not _acceptable(value):
        raise UsageError(
            f"`timeout` must be a positive number of seconds between {MIN_TIMEOUT:g} and "
            f"{MAX_TIMEOUT:g}, not {value!r}",
            parameters=("timeout",),
        )
    return float(value)
