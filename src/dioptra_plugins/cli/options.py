"""Options shared by the commands that talk to an index."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

F = TypeVar("F", bound=Callable[..., Any])


def _apply_timeout(ctx: click.Context, _param: click.Parameter, value: float | None) -> None:
    # Imported here: the index package is not needed to parse options of other commands.
    from dioptra_plugins.index.timeouts import set_command_timeout

    # One command, one timeout: a later command in the same process (tests) starts afresh.
    set_command_timeout(value)
    if value is not None:
        ctx.call_on_close(lambda: set_command_timeout(None))


def timeout_option(func: F) -> F:
    """``--timeout SECONDS``: per-attempt connect and read timeout of an S3 index.

    The value is not passed to the command: it applies to every storage the command opens
    (also the ones the sync engine and ``run --sync`` open), through
    :func:`dioptra_plugins.index.timeouts.set_command_timeout`.
    """
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        metavar="SECONDS",
        expose_value=False,
        callback=_apply_timeout,
        help="Seconds an S3 index may take to connect and to answer each read, per attempt "
        "(3 attempts) [default: $DIOPTRA_PLUGINS_TIMEOUT or 10].",
    )(func)
