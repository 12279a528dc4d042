"""Options shared by the commands: ``--index`` (with ``--timeout``), ``--plugin-dir``, ``--json``.

One definition each, so every command spells them, their variables and their help alike; and
the command line's one reading of the index and plugin dirs from flag or environment
(:func:`given_index`, :func:`open_index`, :func:`plugin_dir_option`).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

import click

if TYPE_CHECKING:
    from dioptra_plugins.index.storage import Storage

# The variables' names, spelled here rather than imported from index.url and plugindir.layout:
# importing those for two strings cost every `<command> --help` ~50 modules.
# tests/test_cli_startup.py checks that they equal the library's.
INDEX_VARIABLE = "DIOPTRA_PLUGINS_INDEX"
PLUGIN_DIR_VARIABLE = "DIOPTRA_PLUGIN_DIR"

F = TypeVar("F", bound=Callable[..., Any])


def _checked_timeout(
    _ctx: click.Context, _param: click.Parameter, value: float | None
) -> float | None:
    if value is None:
        return None
    # Imported here: the index package is not needed to parse options of other commands.
    from dioptra_plugins.index.timeouts import index_timeout

    # Checked as it is parsed (the library's range, its error naming `timeout`, which becomes
    # --timeout), also for a command that turns out to open no S3 or HTTP index.
    return index_timeout(value)


def timeout_option(func: F) -> F:
    """``--timeout SECONDS`` (passed as ``timeout``): per-attempt connect and read timeout of an
    S3 or HTTP index.

    The command passes it on to every storage it opens and every library call that opens one
    (``sync(timeout=...)``); None leaves the choice to
    :func:`dioptra_plugins.index.timeouts.index_timeout` ($DIOPTRA_PLUGINS_TIMEOUT or 10 s).
    """
    return click.option(
        "--timeout",
        type=click.FloatRange(min=0, min_open=True),
        metavar="SECONDS",
        callback=_checked_timeout,
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


def given_index(url: str | None) -> str:
    """The index URL the command was given (``--index``, or ``$DIOPTRA_PLUGINS_INDEX`` which
    click reads for it), or the usage error every command says when there is none: the
    library's (:func:`dioptra_plugins.index.defaults.required_index`, as ``sync()`` says it),
    its ```index``` shown as ``--index``."""
    if url:
        return url
    from dioptra_plugins.index.defaults import required_index

    return required_index(url)


def open_index(url: str | None, timeout: float | None) -> Storage:
    """The storage of :func:`given_index`, opened with the command's ``--timeout``."""
    from dioptra_plugins.index.url import open_storage

    return open_storage(given_index(url), timeout=timeout)


def plugin_dir_option(*, several: bool = False, **settings: Any) -> Callable[[F], F]:
    """``--plugin-dir DIR`` (passed as ``plugin_dir``, None when neither it nor
    ``$DIOPTRA_PLUGIN_DIR`` is set: the library then says so, in its one wording).

    ``several``: ``DIR[:DIR...]`` for commands that import from several, each made absolute.
    """
    what = "Plugin dirs to import from" if several else "The plugin dir"
    if several:
        settings.setdefault("callback", _absolute_dirs)
    return click.option(
        "--plugin-dir",
        envvar=PLUGIN_DIR_VARIABLE,
        metavar="DIR[:DIR...]" if several else "DIR",
        help=f"{what} [default: ${PLUGIN_DIR_VARIABLE}].",
        **settings,
    )


def _absolute_dirs(_ctx: click.Context, _param: click.Parameter, value: str | None) -> str | None:
    # The library refuses relative dirs to import from (they would import from whatever the
    # cwd is then); on the command line a relative path plainly means "relative to here".
    if value is None:
        return None
    return os.pathsep.join(os.path.abspath(part) for part in value.split(os.pathsep) if part)


def number_option(
    flag: str, kind: click.IntRange | click.FloatRange, default: float, help_text: str
) -> Callable[[F], F]:
    """An option taking a number within ``kind``'s range, whose default ``--help`` shows
    (``--jobs``, ``--lock-timeout``, ``--keep``)."""
    return click.option(flag, type=kind, default=default, show_default=True, help=help_text)


def _record_json(ctx: click.Context, _param: click.Parameter, value: bool) -> bool:
    from dioptra_plugins.cli.output import output

    if value:
        output(ctx).json = True
    return value


def json_option(func: F, *, help: str = "Print one JSON document on stdout (a failure too).") -> F:
    """``--json``: print exactly one JSON document on stdout (logs stay on stderr); a failure is
    then also a JSON document, ``{"error": ..., "kind": ..., "exit_code": ..., "details": ...}``
    (``details``: the error's facts, see ``DioptraPluginsError.details``).  ``watch`` prints a
    stream of JSON lines instead, and says so in ``help``."""
    return click.option(
        "--json",
        "as_json",
        is_flag=True,
        callback=_record_json,
        help=help,
    )(func)
