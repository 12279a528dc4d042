"""Small helpers the commands share for printing results: JSON documents, tables, reports."""

from __future__ import annotations

import json
import os
import sys
import textwrap  # loaded with logging (its traceback) anyway: no start-up cost
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import click

_OUTPUT_KEY = "dioptra_plugins.output"


@dataclass
class Output:
    """How the command being run prints: what its ``--quiet`` and ``--json`` asked for.

    It lives in the click context's ``meta``, which a group's context shares with its
    subcommand's and which ends with the command line: a second command run in the same
    process (a test's ``CliRunner``, a Python caller of ``main``) starts from the defaults,
    whatever the first one was given.
    """

    quiet: bool = False
    """``--quiet``: no status lines and no progress bars (errors, listings and JSON stay)."""
    json: bool = False
    """``--json``: an error is then also printed as a JSON document on stdout."""

    def say(self, text: str) -> None:
        """A status line on stdout, unless quiet (bound, it is a progress callback that
        keeps this command's settings in any thread)."""
        if not self.quiet:
            click.echo(text)


def output(ctx: click.Context | None = None) -> Output:
    """The output settings of the command ``ctx`` (default: the one running) belongs to;
    outside any command, the defaults (a fresh :class:`Output`, kept nowhere)."""
    ctx = ctx if ctx is not None else click.get_current_context(silent=True)
    if ctx is None:
        return Output()
    state = ctx.meta.get(_OUTPUT_KEY)
    if not isinstance(state, Output):
        state = ctx.meta[_OUTPUT_KEY] = Output()
    return state


def json_requested() -> bool:
    """Whether the running command was given ``--json``."""
    return output().json


def is_quiet() -> bool:
    """Whether the running command was given ``--quiet``."""
    return output().quiet


def plural(count: int, noun: str) -> str:
    """``1 request``, ``2 requests``: the count and the noun, in the right number."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def say(text: str) -> None:
    """A status line on stdout ("published ...", "generation 000042: ..."), unless quiet."""
    output().say(text)


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout (the only thing ``--json`` prints there)."""
    click.echo(json.dumps(document, indent=2, sort_keys=True, default=str))


def terminal_width() -> int | None:
    """Columns to fit output into: the terminal's when stdout is one, else ``$COLUMNS`` if set.

    None means "do not wrap": piped output stays one record a line for grep and awk, as
    ``pip list`` and ``uv pip list`` do.
    """
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").strip().isdigit():
        import shutil  # not at the top: a no-op sync never needs it

        return max(shutil.get_terminal_size().columns, 40)
    return None


def emit_entries(entries: Sequence[tuple[str, Sequence[str]]], indent: int = 4) -> None:
    """Each entry as its title line and its detail lines, indented and wrapped to the terminal
    (for records too wide for a table row, such as a task with its signature)."""
    width = terminal_width()
    for title, details in entries:
        click.echo(title)
        for detail in details:
            if not detail:
                continue
            if width is None:
                click.echo(" " * indent + detail)
                continue
            for line in textwrap.wrap(
                detail,
                width=width,
                initial_indent=" " * indent,
                subsequent_indent=" " * (indent + 2),
                break_on_hyphens=False,
            ):
                click.echo(line)


def table_fits(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> bool:
    """Whether :func:`emit_table` would print every line within the terminal's width."""
    width = terminal_width()
    if width is None:
        return True
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    return sum(widths) + 2 * (len(widths) - 1) <= width


def emit_table(headers: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print left-aligned columns; an empty table prints its headers only."""
    cells = [[str(h) for h in headers], *[[str(c) for c in row] for row in rows]]
    widths = [max(len(row[i]) for row in cells) for i in range(len(headers))]
    for row in cells:
        click.echo(
            "  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=True)).rstrip()
        )


def emit_report(
    as_json: bool,
    document: dict[str, Any],
    findings: Sequence[tuple[str, Sequence[str]]],
    problems: int,
    summary: Callable[[str], str],
) -> None:
    """A check's result: its JSON ``document``, or each finding as ``label: text`` and then
    ``summary(verdict)``; exits 1 when there are ``problems`` (a check that failed)."""
    if as_json:
        emit_json(document)
    else:
        for label, texts in findings:
            for text in texts:
                click.echo(f"{label}: {text}")
        click.echo(summary("ok" if not problems else plural(problems, "problem")))
    if problems:
        raise click.exceptions.Exit(1)
