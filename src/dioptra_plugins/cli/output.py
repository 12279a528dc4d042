"""Small helpers the commands share for printing results: JSON documents, tables, reports."""

from __future__ import annotations

import json
import os
import shutil
import sys
import textwrap
from collections.abc import Callable, Sequence
from typing import Any

import click

_quiet = False
_json_requested = False


def set_json_requested(requested: bool) -> None:
    """``--json`` was given: an error is then also printed as a JSON document on stdout."""
    global _json_requested
    _json_requested = requested


def json_requested() -> bool:
    return _json_requested


def plural(count: int, noun: str) -> str:
    """``1 request``, ``2 requests``: the count and the noun, in the right number."""
    return f"{count} {noun}{'' if count == 1 else 's'}"


def set_quiet(quiet: bool) -> None:
    """``--quiet``: no status lines and no progress bars (errors, listings and JSON stay)."""
    global _quiet
    _quiet = quiet


def is_quiet() -> bool:
    return _quiet


def say(text: str) -> None:
    """A status line on stdout ("published ...", "generation 000042: ..."), unless quiet."""
    if not _quiet:
        click.echo(text)


def emit_json(document: Any) -> None:
    """Print one JSON document on stdout (the only thing ``--json`` prints there)."""
    click.echo(json.dumps(document, indent=2, sort_keys=True, default=str))


def terminal_width() -> int | None:
    """Columns to fit output into: the terminal's when stdout is one, else ``$COLUMNS`` if set.

    None means "do not wrap": piped output stays one record a line for grep and awk, as
    ``pip list`` and ``uv pip list`` do.
    """
    if sys.stdout.isatty() or os.environ.get("COLUMNS", "").strip().isdigit():
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
