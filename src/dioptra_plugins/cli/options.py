"""Options shared by the commands: ``--index`` (with ``--timeout``), ``--plugin-dir``, ``--json``.

One definition each, so every command spells them, their variables and their help alike.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

import click

# The variables' names, spelled here rather than imported from index.url and plugindir.layout:
# importing those for two strings cost every `<command> --help` ~50 modules.
# tests/test_cli_startup.py checks that they equal the library's.
INDEX_VARIABLE = "DIOPTRA_PLUGINS_INDEX"
PLUGIN_DIR_VARIABLE = "DIOPTRA_PLUGIN_DIR"

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


def index_option(name: str = "index") -> Callable[[F], F]:
    """``--index URL`` (passed as ``name``) and, beside it, ``--timeout SECONDS``."""

    def decorate(func: F) -> F:
        return click.option(
            "--index",
            name,
            envvar=INDEX_VARIABLE,
            metavar="URL",
            help="Index URL: s3://bucket/prefix, a directory or file:///path "
            f"[default: ${INDEX_VARIABLE}].",
        )(timeout_option(func))

    return decorate


def plugin_dir_option(*, several: bool = False, **settings: Any) -> Callable[[F], F]:
    """``--plugin-dir DIR`` (``DIR[:DIR...]`` for commands that import from several)."""
    what = "Plugin dirs to import from" if several else "The plugin dir"
    return click.option(
        "--plugin-dir",
        envvar=PLUGIN_DIR_VARIABLE,
        metavar="DIR[:DIR...]" if several else "DIR",
        help=f"{what} [default: ${PLUGIN_DIR_VARIABLE}].",
        **settings,
    )


def _record_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    from dioptra_plugins.cli.output import output

    if value:
        output(ctx).json = True
    return value


def json_option(func: F) -> F:
    """``--json``: print exactly one JSON document on stdout (logs stay on stderr); a failure is
    then also a JSON document, ``{"error": ..., "kind": ..., "exit_code": ..., "details": ...}``
    (``details``: the error's facts, see ``DioptraPluginsError.details``)."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_record_json,
        help="Print one JSON document on stdout (a failure too).",
    )(func)
