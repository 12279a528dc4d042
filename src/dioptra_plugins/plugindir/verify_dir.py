"""``verify``: a synced plugin dir checked against what sync wrote, trusting nothing it reads.

Every file of every store entry is re-hashed against the RECORD extracted with it, and every
pyc against the bytecode manifest sync wrote (:mod:`.bytecode`); a file that neither lists is
reported.  Every link is checked: ``current``, each generation's links into the store (inside the
merged directory of a namespace split into portions too), the entry links at the top.
Read-only: it takes no lock.
"""

from __future__ import annotations

import os
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from installer.records import RecordEntry

from dioptra_plugins.bundle.record import parse_record
from dioptra_plugins.hashing import file_sha256, record_digest, sha256_file
from dioptra_plugins.plugindir.generations import (
    entry_names,
    generation_names,
    managed_entry_links,
    merge_conflicts,
    read_generation_lock,
)
from dioptra_plugins.plugindir.layout import LOCK_FILENAME, PluginDirLayout, synced_plugin_dir
from dioptra_plugins.plugindir.pylock import Lock


def dist_info_of(entry: Path) -> Path | None:
    found = sorted(entry.glob("*.dist-info"))
    return found[0] if len(found) == 1 else None


@dataclass
class VerifyReport:
    plugin_dir: str
    generation: str | None
    problems: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    """Harmless findings (e.g. a dangling entry link an interrupted sync left behind)."""
    files_checked: int = 0
    store_entries: int = 0
    generations: int = 0

    @property
    def ok(self) -> bool:
        return not self.problems

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "ok": self.ok}


def _record_entries(record: Path) -> dict[str, RecordEntry]:
    """RECORD's rows by path, parsed as at verification; ValueError if any row is damaged."""
    parsed = parse_record(record.read_text(encoding="utf-8"))
    if parsed.problems:
        raise ValueError("; ".join(parsed.problems))
    return parsed.entries


def _read_bytecode_manifest(entry: Path, name: str, report: VerifyReport) -> dict[str, str]:
    """The pycs sync recorded for ``entry`` (empty, with a problem reported, when unreadable)."""
    from dioptra_plugins.plugindir.bytecode_manifest import MANIFEST_NAME, BytecodeManifest

    path = entry / MANIFEST_NAME
    try:
        return BytecodeManifest.from_bytes(path.read_bytes()).files
    except FileNotFoundError:
        # An entry stored before bytecode was compiled at install: any pyc in it is foreign.
        report.notes.append(f"{name}: no bytecode manifest (stored by an older version)")
    except (OSError, ValueError) as error:
        report.problems.append(f"{name}/{MANIFEST_NAME}: unreadable: {error}")
    return {}


def _verify_store_entry(entry: Path, report: VerifyReport) -> None:
    """Every file of a store entry against RECORD or the bytecode manifest; nothing else in it."""
    from dioptra_plugins.plugindir.bytecode_manifest import MANIFEST_NAME

    name = f"store/{entry.name}"
    dist_info = dist_info_of(entry)
    if dist_info is None:
        report.problems.append(f"{name}: no single *.dist-info directory")
        return
    record = dist_info / "RECORD"
    try:
        entries = _record_entries(record)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        report.problems.append(f"{name}: unreadable RECORD: {error}")
        return
    recorded = {"/".join((dist_info.name, "RECORD")), MANIFEST_NAME, *entries}
    for path, row in entries.items():
        _check_recorded_file(entry, name, path, row, report)
    for path, expected in sorted(_read_bytecode_manifest(entry, name, report).items()):
        if path in recorded or not path.endswith(".pyc"):
            report.problems.append(
                f"{name}/{path}: the bytecode manifest lists a non-bytecode file"
            )
            continue
        recorded.add(path)
        _check_bytecode(entry, name, path, expected, report)
    _report_unlisted(entry, name, recorded, report)


def _check_recorded_file(
    entry: Path, name: str, path: str, row: RecordEntry, report: VerifyReport
) -> None:
    """One file RECORD lists (with a hash): a regular file of that sha256 and size."""
    if row.hash_ is None:
        return
    file = entry.joinpath(*path.split("/"))
    if row.hash_.name != "sha256":
        report.problems.append(f"{name}/{path}: RECORD uses {row.hash_.name}, not sha256")
        return
    if file.is_symlink() or not file.is_file():
        report.problems.append(f"{name}/{path}: missing or not a regular file")
        return
    found_hex, size = sha256_file(file)
    found = record_digest(found_hex)
    report.files_checked += 1
    if found != row.hash_.value or (row.size is not None and row.size != size):
        report.problems.append(
            f"{name}/{path}: sha256={found} ({size} bytes), RECORD says "
            f"sha256={row.hash_.value} ({'' if row.size is None else row.size} bytes)"
        )


def _check_bytecode(entry: Path, name: str, path: str, expected: str, report: VerifyReport) -> None:
    """One pyc the bytecode manifest lists: a regular file with the sha256 sync compiled."""
    file = entry.joinpath(*path.split("/"))
    if file.is_symlink() or not file.is_file():
        report.problems.append(f"{name}/{path}: bytecode missing or not a regular file")
        return
    report.files_checked += 1
    found_hex = file_sha256(file)
    if found_hex != expected:
        report.problems.append(
            f"{name}/{path}: bytecode changed since sync compiled it (sha256 "
            f"{found_hex}, expected {expected})"
        )


def _report_unlisted(entry: Path, name: str, recorded: set[str], report: VerifyReport) -> None:
    """Every file of the entry that neither RECORD nor the bytecode manifest lists."""
    for directory, _dirs, files in os.walk(entry):
        for file_name in files:
            relative = Path(directory, file_name).relative_to(entry).as_posix()
            if relative in recorded:
                continue
            if relative.endswith(".pyc"):
                report.problems.append(
                    f"{name}/{relative}: bytecode that sync did not write (planted, or written "
                    "by another interpreter; it would run unchecked)"
                )
            else:
                report.problems.append(f"{name}/{relative}: not listed in RECORD")


def verify_generation(layout: PluginDirLayout, name: str, report: VerifyReport) -> Lock | None:
    """Check that generation ``name`` is exactly what its lock says: one link per bundle, into
    the store, and for a namespace split into portions a real directory holding their links."""
    where = f"generations/{name}"
    try:
        lock = read_generation_lock(layout, name)
    except Exception as error:
        report.problems.append(f"{where}: {error}")
        return None
    generation = layout.generation_path(name)
    report.problems.extend(f"{where}: {problem}" for problem in merge_conflicts(lock.packages))
    top_levels = [package.top_level for package in lock.packages]
    namespaces = PluginDirLayout.namespace_dirs(top_levels)
    # What each directory of the generation must hold, and nothing else.
    expected: dict[str, set[str]] = {"": {LOCK_FILENAME}}
    for relative in [*namespaces, *(PluginDirLayout.package_dir(t) for t in top_levels)]:
        parent, _, child = relative.rpartition("/")
        expected.setdefault(parent, set()).add(child)
    for directory in namespaces:
        path = generation / directory
        if path.is_symlink() or not path.is_dir():
            report.problems.append(
                f"{where}/{directory}: not the directory that merges the portions of a namespace"
            )
            expected.pop(directory, None)
    for package in lock.packages:
        relative = PluginDirLayout.package_dir(package.top_level)
        link = generation / relative
        target = PluginDirLayout.store_link(package.sha256, package.top_level)
        try:
            found = os.readlink(link)
        except OSError:
            report.problems.append(f"{where}/{relative}: missing link")
            continue
        if found != target:
            report.problems.append(f"{where}/{relative}: points at {found}, not {target}")
        elif not link.is_dir():
            report.problems.append(f"{where}/{relative}: store entry missing")
    for directory, children in sorted(expected.items()):
        try:
            present = set(os.listdir(generation / directory))
        except OSError as error:
            if directory == "":
                report.problems.append(f"{where}: cannot be read: {error}")
            continue
        prefix = f"{where}/{directory}/" if directory else f"{where}/"
        for extra in sorted(present - children):
            report.problems.append(f"{prefix}{extra}: not part of the generation's lock")
    return lock


def verify(plugin_dir: str | os.PathLike[str] | None = None) -> VerifyReport:
    """Re-hash every store file and check every link; read-only (takes no lock)."""
    layout = synced_plugin_dir(plugin_dir)
    current = layout.current_name()
    report = VerifyReport(plugin_dir=str(layout.root), generation=current)
    names = generation_names(layout)
    report.generations = len(names)
    if current not in names or os.readlink(layout.current) != f"generations/{current}":
        report.problems.append(f"current points at {os.readlink(layout.current)}, not a generation")
    current_lock = None
    for name in names:
        lock = verify_generation(layout, name, report)
        if name == current:
            current_lock = lock
    for entry in sorted(os.scandir(layout.store), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        report.store_entries += 1
        _verify_store_entry(Path(entry.path), report)
    wanted = entry_names(p.top_level for p in current_lock.packages) if current_lock else set()
    links = managed_entry_links(layout)
    for top_level in sorted(wanted):
        if top_level not in links:
            report.problems.append(
                f"{top_level}: no entry link {layout.root / top_level} -> "
                f"{PluginDirLayout.entry_link(top_level)}"
            )
    for top_level in sorted(links.keys() - wanted):
        report.notes.append(
            f"{top_level}: leftover entry link of a package the current generation does not "
            "hold (harmless: it dangles; the next sync removes it)"
        )
    return report
