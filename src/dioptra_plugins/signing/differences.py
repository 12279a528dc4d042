"""How an unsigned index root differs from the signed one: projects, versions, yanks.

Both roots pin their project documents by sha256, so a project whose entry is the same in both
is the same project; only the others are read (the signed root's documents through its pins,
the unsigned root's through its own), and compared file by file.  The walk is this module's:
:func:`differing_projects` and :func:`paired_files`; :func:`root_differences` says it to a
writer (an UnsignedRootError), :mod:`.views` to a reader (each a Disagreement).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from dioptra_plugins.errors import DioptraPluginsError
from dioptra_plugins.index.documents import FileEntry, ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.reading import read_project
from dioptra_plugins.index.storage import Storage


@dataclass(frozen=True)
class RootDifference:
    """One way the unsigned root differs from the signed one."""

    project: str
    version: str | None
    """None: the difference is the whole project (its document cannot be read)."""
    change: str
    """``not signed`` (only the unsigned root has it), ``missing`` (only the signed root
    has it), ``other bytes``, ``yanked``, ``unyanked``, ``yank reason`` or ``unreadable``."""
    detail: str

    def __str__(self) -> str:
        subject = self.project if self.version is None else f"{self.project} {self.version}"
        return f"{subject}: {self.detail}"


@dataclass(frozen=True)
class FilePair:
    """One bundle file as the unsigned and the signed documents list it (None: not listed)."""

    filename: str
    unsigned: FileEntry | None
    signed: FileEntry | None

    @property
    def other_bytes(self) -> bool:
        """Listed on both sides with another sha256 or size."""
        unsigned, signed = self.unsigned, self.signed
        return (
            unsigned is not None
            and signed is not None
            and (unsigned.sha256, unsigned.size) != (signed.sha256, signed.size)
        )


def differing_projects(
    unsigned: Mapping[str, ProjectEntry], signed: Mapping[str, ProjectEntry]
) -> list[tuple[str, ProjectEntry | None, ProjectEntry | None]]:
    """(name, unsigned entry, signed entry) of every project whose entries differ between the
    two roots' projects, by name; None where a root does not list the project."""
    return [
        (name, unsigned.get(name), signed.get(name))
        for name in sorted(set(unsigned) | set(signed))
        if unsigned.get(name) != signed.get(name)
    ]


def paired_files(unsigned: Iterable[FileEntry], signed: Iterable[FileEntry]) -> list[FilePair]:
    """The files of both sides that differ, paired by filename, in filename order."""
    by_name = {file.filename: file for file in unsigned}
    signed_by_name = {file.filename: file for file in signed}
    return [
        FilePair(filename, by_name.get(filename), signed_by_name.get(filename))
        for filename in sorted(set(by_name) | set(signed_by_name))
        if by_name.get(filename) != signed_by_name.get(filename)
    ]


def _sort_key(version: str) -> tuple[int, Version | str]:
    try:
        return (0, Version(version))
    except InvalidVersion:
        return (1, version)


def root_differences(
    storage: Storage, signed: RootDocument, found: RootDocument | None
) -> list[RootDifference]:
    """Every difference of ``found`` (the unsigned root; None: missing) from ``signed``.

    Cost: one read per project document whose entry differs between the two roots.
    """
    found_projects = found.projects if found is not None else {}
    differences: list[RootDifference] = []
    for name, found_entry, signed_entry in differing_projects(found_projects, signed.projects):
        signed_files = _files(storage, name, signed_entry, "the signed", differences)
        found_files = _files(storage, name, found_entry, "index.json's", differences)
        if signed_files is None or found_files is None:
            continue
        differences += _file_differences(name, paired_files(found_files, signed_files))
    return differences


def _files(
    storage: Storage,
    name: str,
    entry: ProjectEntry | None,
    whose: str,
    differences: list[RootDifference],
) -> tuple[FileEntry, ...] | None:
    if entry is None:
        return ()
    try:
        document: ProjectDocument = read_project(storage, name, entry)
    except DioptraPluginsError as error:
        differences.append(
            RootDifference(name, None, "unreadable", f"{whose} project document: {error}")
        )
        return None
    return document.files


def _file_differences(name: str, pairs: list[FilePair]) -> list[RootDifference]:
    out: list[RootDifference] = []
    for pair in pairs:
        filename, before, after = pair.filename, pair.signed, pair.unsigned
        file = after or before
        assert file is not None
        if before is None:
            out.append(
                RootDifference(name, file.version, "not signed", f"{filename} is not signed")
            )
        elif after is None:
            out.append(
                RootDifference(
                    name, file.version, "missing", f"{filename} is signed but not in index.json"
                )
            )
        elif pair.other_bytes:
            out.append(
                RootDifference(
                    name,
                    file.version,
                    "other bytes",
                    f"{filename} has sha256 {after.sha256} in index.json, {before.sha256} signed",
                )
            )
        elif before.yanked != after.yanked:
            change = "yanked" if after.yanked else "unyanked"
            signed_state = "yanked" if before.yanked else "not yanked"
            out.append(
                RootDifference(
                    name, file.version, change, f"{change} in index.json, {signed_state} signed"
                )
            )
        elif before.yanked_reason != after.yanked_reason:
            out.append(
                RootDifference(
                    name,
                    file.version,
                    "yank reason",
                    f"yank reason {after.yanked_reason!r} in index.json, "
                    f"{before.yanked_reason!r} signed",
                )
            )
        elif before != after:
            out.append(
                RootDifference(
                    name, file.version, "other bytes", f"{filename} is described differently"
                )
            )
    out.sort(key=lambda d: _sort_key(d.version or ""))
    return out
