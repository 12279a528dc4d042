"""How an unsigned index root differs from the signed one: projects, versions, yanks.

Both roots pin their project documents by sha256, so a project whose entry is the same in both
is the same project; only the others are read (the signed root's documents through its pins,
the unsigned root's through its own), and compared file by file.
"""

from __future__ import annotations

from dataclasses import dataclass

from packaging.version import InvalidVersion, Version

from dioptra_plugins.errors import DioptraPluginsError
from dioptra_plugins.index.documents import FileEntry, ProjectDocument, RootDocument
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
    for name in sorted(set(signed.projects) | set(found_projects)):
        signed_entry, found_entry = signed.projects.get(name), found_projects.get(name)
        if signed_entry == found_entry:
            continue
        signed_files = _files(storage, name, signed, "the signed", differences)
        found_files = _files(storage, name, found, "index.json's", differences)
        if signed_files is None or found_files is None:
            continue
        differences += _file_differences(name, signed_files, found_files)
    return differences


def _files(
    storage: Storage,
    name: str,
    root: RootDocument | None,
    whose: str,
    differences: list[RootDifference],
) -> dict[str, FileEntry] | None:
    entry = root.projects.get(name) if root is not None else None
    if entry is None:
        return {}
    try:
        document: ProjectDocument = read_project(storage, name, entry)
    except DioptraPluginsError as error:
        differences.append(
            RootDifference(name, None, "unreadable", f"{whose} project document: {error}")
        )
        return None
    return {file.filename: file for file in document.files}


def _file_differences(
    name: str, signed: dict[str, FileEntry], found: dict[str, FileEntry]
) -> list[RootDifference]:
    out: list[RootDifference] = []
    for filename in sorted(set(signed) | set(found)):
        before, after = signed.get(filename), found.get(filename)
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
        elif before.sha256 != after.sha256 or before.size != after.size:
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
