"""``gc``: delete old generations, and the store entries, bundles and documents nothing uses.

It runs under the plugin dir's writer lock, like a sync.  The current generation, the one
before it, and generations pinned by live processes are kept whatever ``--keep`` says.  What is
live is read from what kept generations link to, and gc fails closed: when a kept generation or
a pin cannot be read, it deletes nothing.
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from dioptra_plugins.errors import DioptraPluginsError, PluginDirError, UsageError
from dioptra_plugins.plugindir.generations import (
    generation_names,
    read_generation_lock,
)
from dioptra_plugins.plugindir.layout import (
    BUILDING_PREFIX,
    ROOT_COPY,
    STAGING_PREFIX,
    TEMPORARY_PREFIX,
    PluginDirLayout,
    synced_plugin_dir,
)
from dioptra_plugins.plugindir.pins import pinned_generations, remove_dead_pins
from dioptra_plugins.plugindir.writer_lock import writer_lock

logger = logging.getLogger(__name__)


@dataclass
class GcResult:
    plugin_dir: str
    kept: list[str] = field(default_factory=list)
    removed_generations: list[str] = field(default_factory=list)
    removed_store_entries: list[str] = field(default_factory=list)
    removed_cache_entries: list[str] = field(default_factory=list)
    removed_documents: list[str] = field(default_factory=list)
    pinned: list[str] = field(default_factory=list)
    dry_run: bool = False
    """True when nothing was deleted: the lists say what gc would delete."""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _remove_tree(path: Path) -> None:
    """Delete ``path``, renamed first to a name ``remove_leftovers`` collects: a gc interrupted
    mid-deletion (SIGINT, a kill) must not leave a half-deleted ``store/<sha256>``, which a
    later sync would take for the complete entry, or a half-deleted generation."""
    prefixes = {"generations": BUILDING_PREFIX, "cache": TEMPORARY_PREFIX}
    prefix = prefixes.get(path.parent.name, STAGING_PREFIX)
    doomed = path.with_name(f"{prefix}{secrets.token_hex(6)}")
    try:
        os.rename(path, doomed)
    except OSError:
        doomed = path
    shutil.rmtree(doomed, ignore_errors=True)


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
    dry_run: bool = False,
) -> GcResult:
    """Delete all but the ``keep`` newest generations, and what no kept generation reaches.

    The current generation, the one before it, and generations pinned by live processes are
    kept whatever ``keep`` says.  Fails closed: when a kept generation or a pin cannot be
    read, it raises PluginDirError and deletes nothing.  ``dry_run`` reports what would be
    deleted and writes nothing (it takes no lock: what it reports may change under a sync).
    """
    if keep < 0:
        raise UsageError(f"`keep` must be 0 or more, not {keep}", parameters=("keep",))
    layout = synced_plugin_dir(plugin_dir)
    result = GcResult(plugin_dir=str(layout.root), dry_run=dry_run)
    remove = (lambda path: None) if dry_run else _remove_tree
    locked = contextlib.nullcontext() if dry_run else writer_lock(layout.lock_file, lock_timeout)
    with locked:
        if not dry_run:
            # What dead writers and dead readers left: staging directories, and the pins of
            # processes that are gone (a live process's pin is read below and kept).
            layout.remove_leftovers()
            remove_dead_pins(layout)
        current = layout.current_name()
        assert current is not None
        names = generation_names(layout)
        pinned = pinned_generations(layout, strict=True)
        older = [n for n in names if int(n) < int(current)]
        kept = set(names[-keep:] if keep else []) | {current} | (pinned & set(names))
        if older:
            kept.add(older[-1])
        result.pinned = sorted(pinned & set(names))
        result.kept = sorted(kept)
        live = _live_entries(layout, kept)
        for name in names:
            if name not in kept:
                remove(layout.generation_path(name))
                result.removed_generations.append(name)
        # Cached wheels (``cache/<sha256>/``) are what older releases kept after a download;
        # nothing reads them now (the store entry is the cache), so all of them go.
        result.removed_store_entries = _remove_entries(layout.store, live, remove)
        result.removed_cache_entries = _remove_entries(layout.cache, set(), remove)
        result.removed_documents = _collect_documents(layout, dry_run=dry_run)
    logger.info(
        "gc of %s removed %d generations, %d store entries, %d cached bundles, %d documents",
        layout.root,
        len(result.removed_generations),
        len(result.removed_store_entries),
        len(result.removed_cache_entries),
        len(result.removed_documents),
    )
    return result


def _live_entries(layout: PluginDirLayout, kept: set[str]) -> set[str]:
    """The store entries the ``kept`` generations reach; PluginDirError (gc deletes nothing)
    when any of them cannot be read, naming every one that cannot."""
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
    return live


def _remove_entries(directory: Path, live: set[str], remove: Callable[[Path], None]) -> list[str]:
    """``remove`` each ``<sha256>`` entry of ``directory`` not in ``live``; their names."""
    removed = []
    with contextlib.suppress(FileNotFoundError):
        for entry in sorted(os.scandir(directory), key=lambda e: e.name):
            if len(entry.name) == 64 and entry.name not in live:
                remove(Path(entry.path))
                removed.append(entry.name)
    return removed


def _collect_documents(layout: PluginDirLayout, *, dry_run: bool = False) -> list[str]:
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
                if not dry_run:
                    with contextlib.suppress(FileNotFoundError):
                        os.unlink(entry.path)
                removed.append(entry.name)
    return removed
