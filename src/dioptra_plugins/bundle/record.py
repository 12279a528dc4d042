"""RECORD (PEP 376, PEP 427): every row parsed, every bad row one more problem.

Like installer's ``parse_record_file`` (csv rows of path, hash, size; backslashes read as
slashes; built on installer's :class:`~installer.records.RecordEntry`), except that a bad row
does not end parsing: verification reports every problem of a RECORD at once.  One parser for
the RECORD of a wheel and the RECORD extracted into a store entry.
"""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

from installer.records import InvalidRecordEntry, RecordEntry

_SHOWN = 80
"""Longest excerpt of a hostile row quoted in a problem."""


@dataclass
class ParsedRecord:
    entries: dict[str, RecordEntry] = field(default_factory=dict)
    """Well-formed rows by path."""
    malformed: set[str] = field(default_factory=set)
    """Paths of rows that are not well formed (so not reported again as "not in RECORD")."""
    problems: list[str] = field(default_factory=list)


def shorten(text: str) -> str:
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}... ({len(text)} characters)"


def parse_record(text: str) -> ParsedRecord:
    """Every row of a RECORD's text.  Cost: one pass over the text."""
    parsed = ParsedRecord()
    reader = csv.reader(text.splitlines(), delimiter=",", quotechar='"', lineterminator="\n")
    while True:
        first_line = reader.line_num + 1
        try:
            row = next(reader)
        except StopIteration:
            break
        except csv.Error as error:
            parsed.problems.append(f"RECORD line {first_line}: {error}")
            continue
        where = f"RECORD line {first_line}"
        if reader.line_num > first_line:
            # csv joins lines while a quote is open: the quote was never closed.
            where = f"RECORD lines {first_line}-{reader.line_num} (unbalanced quote)"
        if len(row) != 3:
            parsed.problems.append(
                f"{where}: expected 3 fields (path, hash, size), found {len(row)}: "
                f"{shorten(repr(row))}"
            )
            if row:
                parsed.malformed.add(row[0].replace("\\", "/"))
            continue
        path = row[0].replace("\\", "/")
        try:
            entry = RecordEntry.from_elements(path, row[1], row[2])
        except InvalidRecordEntry as error:
            parsed.problems.append(f"{where}: {shorten(repr(row))}: {', '.join(error.issues)}")
            parsed.malformed.add(path)
            continue
        if entry.path in parsed.entries:
            parsed.problems.append(f"RECORD: {entry.path!r} listed twice")
        parsed.entries[entry.path] = entry
    return parsed
