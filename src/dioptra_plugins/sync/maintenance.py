"""Reading and tending a synced plugin dir: list, verify, rollback, gc.

``verify`` trusts nothing it reads: it re-hashes every file of every store entry against the
RECORD extracted with it, and checks every link (``current``, each generation's links into the
store, the entry links at the top).  ``rollback`` and ``gc`` take the plugin dir lock, like a
sync; ``gc`` never deletes the current or previous generation, nor one pinned by a live process.
"""

from __future__ import annotations

import base64
import contextlib
import hashlib
import json
import logging
import os
import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dioptra_plugins.bundle.verify import file_sha256
from dioptra_plugins.errors import DioptraPluginsError, PluginDirError, UsageError
from dioptra_plugins.plugindir.layout import ROOT_COPY, PluginDirLayout, writable_plugin_dir
from dioptra_plugins.plugindir.pins import pinned_generations, remove_dead_pins
from dioptra_plugins.sync.generations import (
    LOCK_FILENAME,
    current_generation_name,
    generation_names,
    managed_entry_links,
    read_generation_lock,
    switch_to,
)
from dioptra_plugins.sync.lock import plugin_dir_lock
from dioptra_plugins.sync.pylock import Lock

logger = logging.getLogger(__name__)

MANIFEST_FILENAME = "dioptra_plugins.json"
_CHUNK = 1024 * 1024


def _synced_layout(plugin_dir: str | os.PathLike[str] | None) -> PluginDirLayout:
    layout = writable_plugin_dir(plugin_dir)
    if not layout.is_synced():
        raise PluginDirError(f"{layout.root} is not a synced plugin dir (no {layout.current})")
    return layout


def _dist_info(entry: Path) -> Path | None:
    found = sorted(entry.glob("*.dist-info"))
    return found[0] if len(found) == 1 else None


def _tasks(layout: PluginDirLayout, sha256: str) -> list[dict[str, Any]]:
    dist_info = _dist_info(layout.store / sha256)
    if dist_info is None:
        return []
    try:
        manifest = json.loads((dist_info / MANIFEST_FILENAME).read_bytes())
        return [dict(task) for task in manifest.get("tasks", [])]
    except (OSError, ValueError, AttributeError, TypeError):
        return []


# --- list ----------------------------------------------------------------------------------------


def list_plugins(plugin_dir: str | os.PathLike[str] | None = None) -> dict[str, Any]:
    """The current generation's packages (name, version, sha256, tasks) and all generations."""
    layout = _synced_layout(plugin_dir)
    current = current_generation_name(layout)
    assert current is not None
    lock = read_generation_lock(layout, current)
    return {
        "plugin_dir": str(layout.root),
        "generation": current,
        "index": lock.index,
        "index_serial": lock.index_serial,
        "packages": [
            {
                "name": package.name,
                "version": package.version,
                "sha256": package.sha256,
                "package": package.top_level,
                "filename": package.filename,
                "tasks": _tasks(layout, package.sha256),
            }
            for package in lock.packages
        ],
        "generations": generation_names(layout),
        "pinned": sorted(pinned_generations(layout)),
    }


# --- verify --------------------------------------------------------------------------------------


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
        return {
            "plugin_dir": self.plugin_dir,
            "generation": self.generation,
            "ok": self.ok,
            "problems": self.problems,
            "notes": self.notes,
            "files_checked": self.files_checked,
            "store_entries": self.store_entries,
            "generations": self.generations,
        }


def _record_rows(record: Path) -> list[tuple[str, str, str]]:
    """RECORD's rows as (path, hash, size), parsed by installer as at verification time."""
    from installer.records import parse_record_file

    lines = record.read_text(encoding="utf-8").splitlines()
    return [
        (path, hash_field, size_field) for path, hash_field, size_field in parse_record_file(lines)
    ]


def _hash_file(path: Path) -> tuple[str, int]:
    digest = hashlib.sha256()
    size = 0
    with path.open("rb") as stream:
        while chunk := stream.read(_CHUNK):
            digest.update(chunk)
            size += len(chunk)
    return base64.urlsafe_b64encode(digest.digest()).rstrip(b"=").decode("ascii"), size


def _read_bytecode_manifest(entry: Path, name: str, report: VerifyReport) -> dict[str, str]:
    """The pycs sync recorded for ``entry`` (empty, with a problem reported, when unreadable)."""
    from dioptra_plugins.sync.bytecode import MANIFEST_NAME, BytecodeManifest

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
    from dioptra_plugins.sync.bytecode import MANIFEST_NAME

    name = f"store/{entry.name}"
    dist_info = _dist_info(entry)
    if dist_info is None:
        report.problems.append(f"{name}: no single *.dist-info directory")
        return
    record = dist_info / "RECORD"
    try:
        rows = _record_rows(record)
    except (OSError, UnicodeDecodeError, ValueError) as error:
        report.problems.append(f"{name}: unreadable RECORD: {error}")
        return
    except Exception as error:  # installer's InvalidRecordEntry has no common base with ours
        report.problems.append(f"{name}: unreadable RECORD: {error}")
        return
    recorded = {"/".join((dist_info.name, "RECORD")), MANIFEST_NAME}
    for path, hash_field, size_field in rows:
        recorded.add(path)
        if not hash_field:
            continue
        file = entry.joinpath(*path.split("/"))
        algorithm, _, expected = hash_field.partition("=")
        if algorithm != "sha256":
            report.problems.append(f"{name}/{path}: RECORD uses {algorithm}, not sha256")
            continue
        if file.is_symlink() or not file.is_file():
            report.problems.append(f"{name}/{path}: missing or not a regular file")
            continue
        found, size = _hash_file(file)
        report.files_checked += 1
        if found != expected or (size_field and size_field != str(size)):
            report.problems.append(
                f"{name}/{path}: sha256={found} ({size} bytes), RECORD says "
                f"sha256={expected} ({size_field} bytes)"
            )
    bytecode = _read_bytecode_manifest(entry, name, report)
    for path, expected in sorted(bytecode.items()):
        file = entry.joinpath(*path.split("/"))
        if path in recorded or not path.endswith(".pyc"):
            report.problems.append(
                f"{name}/{path}: the bytecode manifest lists a non-bytecode file"
            )
            continue
        recorded.add(path)
        if file.is_symlink() or not file.is_file():
            report.problems.append(f"{name}/{path}: bytecode missing or not a regular file")
            continue
        report.files_checked += 1
        if file_sha256(file) != expected:
            report.problems.append(
                f"{name}/{path}: bytecode changed since sync compiled it (sha256 "
                f"{file_sha256(file)}, expected {expected})"
            )
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


def _verify_generation(layout: PluginDirLayout, name: str, report: VerifyReport) -> Lock | None:
    where = f"generations/{name}"
    try:
        lock = read_generation_lock(layout, name)
    except Exception as error:
        report.problems.append(f"{where}: {error}")
        return None
    expected = {LOCK_FILENAME}
    for package in lock.packages:
        expected.add(package.top_level)
        link = layout.generation_path(name) / package.top_level
        target = PluginDirLayout.store_link(package.sha256, package.top_level)
        try:
            found = os.readlink(link)
        except OSError:
            report.problems.append(f"{where}/{package.top_level}: missing link")
            continue
        if found != target:
            report.problems.append(f"{where}/{package.top_level}: points at {found}, not {target}")
        elif not link.is_dir():
            report.problems.append(f"{where}/{package.top_level}: store entry missing")
    for extra in sorted(set(os.listdir(layout.generation_path(name))) - expected):
        report.problems.append(f"{where}/{extra}: not part of the generation's lock")
    return lock


def verify(plugin_dir: str | os.PathLike[str] | None = None) -> VerifyReport:
    """Re-hash every store file and check every link; read-only (takes no lock)."""
    layout = _synced_layout(plugin_dir)
    current = current_generation_name(layout)
    report = VerifyReport(plugin_dir=str(layout.root), generation=current)
    names = generation_names(layout)
    report.generations = len(names)
    if current not in names or os.readlink(layout.current) != f"generations/{current}":
        report.problems.append(f"current points at {os.readlink(layout.current)}, not a generation")
    current_lock = None
    for name in names:
        lock = _verify_generation(layout, name, report)
        if name == current:
            current_lock = lock
    for entry in sorted(os.scandir(layout.store), key=lambda e: e.name):
        if entry.name.startswith("."):
            continue
        report.store_entries += 1
        _verify_store_entry(Path(entry.path), report)
    wanted = {p.top_level for p in current_lock.packages} if current_lock else set()
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


# --- rollback ------------------------------------------------------------------------------------


def _generation_name(text: str) -> str:
    if not text.isdigit():
        raise UsageError(f"a generation is a number, not {text!r}")
    return f"{int(text):06d}"


def rollback(
    plugin_dir: str | os.PathLike[str] | None = None,
    to: str | int | None = None,
    *,
    lock_timeout: float = 60.0,
) -> dict[str, str]:
    """Switch back to generation ``to`` (default: the newest one older than current)."""
    layout = _synced_layout(plugin_dir)
    with plugin_dir_lock(layout.lock_file, lock_timeout):
        current = current_generation_name(layout)
        assert current is not None
        names = generation_names(layout)
        if to is None:
            older = [n for n in names if int(n) < int(current)]
            if not older:
                raise PluginDirError(f"no generation older than {current} to roll back to")
            target = older[-1]
        else:
            target = _generation_name(str(to))
            if target not in names:
                raise PluginDirError(
                    f"no generation {target} in {layout.root} (there are: {', '.join(names)})"
                )
        if target != current:
            report = VerifyReport(plugin_dir=str(layout.root), generation=target)
            _verify_generation(layout, target, report)
            if report.problems:
                raise PluginDirError(
                    f"generation {target} is damaged: " + "; ".join(report.problems)
                )
            switch_to(layout, target)
        return {"plugin_dir": str(layout.root), "from": current, "to": target}


# --- gc ------------------------------------------------------------------------------------------


@dataclass
class GcResult:
    plugin_dir: str
    kept: list[str] = field(default_factory=list)
    removed_generations: list[str] = field(default_factory=list)
    removed_store_entries: list[str] = field(default_factory=list)
    removed_cache_entries: list[str] = field(default_factory=list)
    removed_documents: list[str] = field(default_factory=list)
    pinned: list[str] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "plugin_dir": self.plugin_dir,
            "kept": self.kept,
            "removed_generations": self.removed_generations,
            "removed_store_entries": self.removed_store_entries,
            "removed_cache_entries": self.removed_cache_entries,
            "removed_documents": self.removed_documents,
            "pinned": self.pinned,
        }


def _remove_tree(path: Path) -> None:
    shutil.rmtree(path, ignore_errors=True)


def store_entries_reached(layout: PluginDirLayout, name: str) -> set[str]:
    """The store entries (sha256) generation ``name`` reaches: its links and its lock.

    Liveness is read from what the generation actually links to (``readlink`` of every link
    in it, however deep), so a damaged lock cannot make gc delete an entry in use; the lock's
    entries are added when it is readable.  Raises PluginDirError when the generation itself
    cannot be read: the caller must then delete nothing.
    """
    from dioptra_plugins.index.keys import is_sha256

    generation = layout.generation_path(name)
    store = os.path.normpath(layout.store)
    reached: set[str] = set()
    pending = [str(generation)]
    try:
        while pending:
            with os.scandir(pending.pop()) as entries:
                for entry in entries:
                    if entry.is_symlink():
                        target = os.path.normpath(
                            os.path.join(os.path.dirname(entry.path), os.readlink(entry.path))
                        )
                        relative = os.path.relpath(target, store)
                        first = relative.split(os.sep, 1)[0]
                        if not relative.startswith("..") and is_sha256(first):
                            reached.add(first)
                    elif entry.is_dir(follow_symlinks=False):
                        pending.append(entry.path)
    except OSError as error:
        raise PluginDirError(f"generation {name} cannot be read: {error}") from error
    try:
        reached.update(p.sha256 for p in read_generation_lock(layout, name).packages)
    except DioptraPluginsError as error:
        logger.warning("gc: %s; keeping what its links reach", error)
    return reached


def gc(
    plugin_dir: str | os.PathLike[str] | None = None,
    keep: int = 3,
    *,
    lock_timeout: float = 60.0,
) -> GcResult:
    """Delete all but the ``keep`` newest generations, and what no kept generation reaches.

    The current generation, the one before it, and generations pinned by live processes are
    kept whatever ``keep`` says.  Fails closed: when a kept generation or a pin cannot be
    read, it raises PluginDirError and deletes nothing.
    """
    if keep < 0:
        raise UsageError(f"--keep must be 0 or more, not {keep}")
    layout = _synced_layout(plugin_dir)
    result = GcResult(plugin_dir=str(layout.root))
    with plugin_dir_lock(layout.lock_file, lock_timeout):
        layout.remove_leftovers()
        current = current_generation_name(layout)
        assert current is not None
        names = generation_names(layout)
        pinned = pinned_generations(layout, strict=True)
        older = [n for n in names if int(n) < int(current)]
        kept = set(names[-keep:] if keep else []) | {current} | (pinned & set(names))
        if older:
            kept.add(older[-1])
        result.pinned = sorted(pinned & set(names))
        result.kept = sorted(kept)
        live: set[str] = set()
        unreadable = []
        for name in sorted(kept):
            try:
                live |= store_entries_reached(layout, name)
            except PluginDirError as error:
                unreadable.append(str(error))
        if unreadable:
            raise PluginDirError(
                "gc refused, nothing was deleted: " + "; ".join(unreadable) + " (repair it "
                "with rollback or a new sync, or delete the generation by hand)"
            )
        for name in names:
            if name not in kept:
                _remove_tree(layout.generation_path(name))
                result.removed_generations.append(name)
        for directory, removed in (
            (layout.store, result.removed_store_entries),
            (layout.cache, result.removed_cache_entries),
        ):
            with contextlib.suppress(FileNotFoundError):
                for entry in sorted(os.scandir(directory), key=lambda e: e.name):
                    if len(entry.name) == 64 and entry.name not in live:
                        _remove_tree(Path(entry.path))
                        removed.append(entry.name)
        result.removed_documents = _collect_documents(layout)
        remove_dead_pins(layout)
    logger.info(
        "gc of %s removed %d generations, %d store entries, %d cached bundles, %d documents",
        layout.root,
        len(result.removed_generations),
        len(result.removed_store_entries),
        len(result.removed_cache_entries),
        len(result.removed_documents),
    )
    return result


def _collect_documents(layout: PluginDirLayout) -> list[str]:
    """Delete cached project documents the last accepted root no longer names.

    Without a readable saved root nothing is deleted (they are only a cache).
    """
    from dioptra_plugins.index.documents import RootDocument

    documents = layout.documents
    try:
        root = RootDocument.from_bytes((documents / ROOT_COPY).read_bytes(), what=ROOT_COPY)
    except (OSError, DioptraPluginsError):
        return []
    wanted = {f"{entry.sha256}.json" for entry in root.projects.values()} | {ROOT_COPY}
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(os.scandir(documents), key=lambda e: e.name):
            if entry.name not in wanted and not entry.name.startswith("."):
                with contextlib.suppress(FileNotFoundError):
                    os.unlink(entry.path)
                removed.append(entry.name)
    return removed
