"""What the user asked for: PEP 508 requirement strings and requirements files.

Only names with version specifiers make sense for plugin packages: URLs, extras and markers on
a top-level requirement are refused as usage errors rather than silently ignored.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dioptra_plugins.errors import UsageError

if TYPE_CHECKING:
    from packaging.requirements import Requirement

    from dioptra_plugins.plugindir.pylock import Lock


class RequirementLine(str):
    """A requirement read from a file, remembering where: errors say ``FILE:LINE`` (as pip's
    "from line N of FILE" does), and everything else sees the plain string."""

    origin: str

    def __new__(cls, text: str, origin: str) -> RequirementLine:
        line = super().__new__(cls, text)
        line.origin = origin
        return line


def read_requirements_file(path: Path | str) -> list[str]:
    """The requirement lines of a file: one per line, ``#`` starts a comment, blanks ignored.

    As in pip's requirements files, a line ending in ``\\`` continues on the next one and
    ``-r OTHER`` (``--requirement OTHER``) includes another file, relative to this one.  Each
    returned line is a :class:`RequirementLine` that knows its ``FILE:LINE``.
    """
    return _read_file(Path(path), ())


def _read_file(path: Path, including: tuple[Path, ...]) -> list[str]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as error:
        where = f"{including[-1]}: " if including else ""
        raise UsageError(f"{where}cannot read requirements file {path}: {error}") from error
    lines: list[str] = []
    pending, start = "", 0
    for number, raw in enumerate(text.splitlines(), start=1):
        if not pending:
            start = number
        content = raw.split("#", 1)[0]
        if content.rstrip().endswith("\\"):
            pending += content.rstrip()[:-1] + " "
            continue
        line, pending = (pending + content).strip(), ""
        if not line:
            continue
        origin = f"{path}:{start}"
        option, _, argument = line.partition(" ")
        if option in ("-r", "--requirement") or line.startswith("--requirement="):
            target = argument.strip() or line.partition("=")[2].strip()
            included = path.parent / target
            if included.resolve() in (p.resolve() for p in (*including, path)):
                raise UsageError(f"{origin}: {target} includes itself")
            lines += _read_file(included, (*including, path))
        elif line.startswith("-"):
            raise UsageError(
                f"{origin}: {option} is not supported in a requirements file here (only "
                "requirements and -r OTHER)"
            )
        else:
            lines.append(RequirementLine(line, origin))
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
        # pip's convention: say where a line of a file came from.
        where = f"{text.origin}: " if isinstance(text, RequirementLine) else ""
        try:
            requirement = Requirement(text)
        except InvalidRequirement as error:
            problems.append(f"{where}{str(text)!r}: {error}")
            continue
        if requirement.url:
            problems.append(
                f"{where}{str(text)!r}: URL requirements are not supported; publish the bundle"
            )
        elif requirement.extras:
            problems.append(f"{where}{str(text)!r}: plugin packages have no extras")
        elif requirement.marker is not None:
            problems.append(f"{where}{str(text)!r}: environment markers are not supported here")
        else:
            parsed.append(requirement)
    if problems:
        raise UsageError("invalid requirements:\n" + "\n".join(f"  - {p}" for p in problems))
    return parsed


@dataclass(frozen=True)
class Requested:
    """What a sync was asked to install: requirements to resolve, or a lock to reproduce."""

    requirements: list[str]
    lock: Lock | None
    key: str
    """Identifies the requirements (or lock file) so a repeated sync can be a no-op."""


def requested(requirements: list[str], locked: str | os.PathLike[str] | None) -> Requested:
    """``requirements``, or the lock file ``locked`` read and checked (not both)."""
    if locked is None:
        return Requested(requirements, None, requirements_key(requirements))
    if requirements:
        raise UsageError(
            "give `requirements` or `locked`, not both", parameters=("requirements", "locked")
        )
    from dioptra_plugins.plugindir.pylock import lock_from_toml

    try:
        lock_bytes = Path(locked).read_bytes()
    except FileNotFoundError:
        raise UsageError(f"lock file {locked} does not exist") from None
    except OSError as error:
        raise UsageError(f"cannot read lock file {locked}: {error.strerror}") from error
    lock = lock_from_toml(lock_bytes, os.fspath(locked))
    from dioptra_plugins.hashing import sha256_hex  # not at the top: a no-op never needs it

    return Requested(requirements, lock, "locked:" + sha256_hex(lock_bytes))
