"""What the user asked for: PEP 508 requirement strings and requirements files.

Only names with version specifiers make sense for plugin packages: URLs, extras and markers on
a top-level requirement are refused as usage errors rather than silently ignored.
"""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dioptra_plugins.errors import UsageError

if TYPE_CHECKING:
    from packaging.requirements import Requirement


def read_requirements_file(path: Path | str) -> list[str]:
    """The requirement lines of a file: one per line, ``#`` starts a comment, blanks ignored."""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except OSError as error:
        raise UsageError(f"cannot read requirements file {path}: {error}") from error
    lines = []
    for raw in text.splitlines():
        line = raw.split("#", 1)[0].strip()
        if line:
            lines.append(line)
    return lines


def requirements_key(requirements: Iterable[str]) -> str:
    """A cheap, order-independent signature of the requirement strings.

    Deliberately textual (no parsing) so that the no-op path imports nothing heavy; two
    spellings of the same requirement only cost one full (still correct) sync.
    """
    return "\n".join(sorted({"".join(r.split()) for r in requirements}))


def parse_requirements(requirements: Iterable[str]) -> list[Requirement]:
    """Parse requirement strings; every malformed one is reported in one UsageError."""
    from packaging.requirements import InvalidRequirement, Requirement

    parsed: list[Requirement] = []
    problems: list[str] = []
    for text in requirements:
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            problems.append(f"{text!r}: {error}")
            continue
        if requirement.url:
            problems.append(f"{text!r}: URL requirements are not supported; publish the bundle")
        elif requirement.extras:
            problems.append(f"{text!r}: plugin packages have no extras")
        elif requirement.marker is not None:
            problems.append(f"{text!r}: environment markers are not supported here")
        else:
            parsed.append(requirement)
    if problems:
        raise UsageError("invalid requirements:\n" + "\n".join(f"  - {p}" for p in problems))
    return parsed
