"""Generations: complete, immutable sets of links into the store, and the one switch.

A generation is built under ``generations/.building-*`` and renamed to its number only when
complete, so a numbered generation is always whole.  Switching follows an order that keeps
every instant consistent for a process importing from the plugin dir:

1. entry links for packages new in the target are created first (``pkg ->
   .dioptra-plugins/current/pkg``); until the switch they dangle, which imports as "absent";
2. the filesystem is flushed, then ``current`` is replaced by a fresh symlink in one rename:
   this is the instant the whole new set appears and the whole old set disappears;
3. entry links of packages the target no longer has (dangling now) are removed.

Entry links never change target, so the rename of ``current`` is the only switch there is.
The three steps are one critical section (:class:`dioptra_plugins.signals.deferred`): SIGINT
or SIGTERM acts before step 1 or after step 3, never between.  A failure before the rename
removes the links step 1 made; links a killed writer left dangling are removed by the next
writer (:func:`remove_dangling_entry_links`).

A namespace split across bundles (``dioptra_custom.fgm_plugins`` and
``dioptra_custom.feature_squeezing``, each a bundle) is merged in the generation: a real
``dioptra_custom/`` directory holding one link per portion, which imports as one namespace.
It is built with the rest of the generation, so it too appears in the one rename.  Bundles
whose import packages overlap (the same one twice, or a portion inside another bundle's
package) cannot share a generation (:func:`merge_conflicts`).
"""

from __future__ import annotations

import contextlib
import errno
import logging
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.fsutil import flush_filesystem, fsync_dir, replace_symlink
from dioptra_plugins.plugindir.layout import BUILDING_PREFIX, LOCK_FILENAME, PluginDirLayout
from dioptra_plugins.signals import deferred, note_switch

if TYPE_CHECKING:
    from dioptra_plugins.plugindir.pylock import Lock, LockedPackage

logger = logging.getLogger(__name__)

NAME_WIDTH = 6


def generation_names(layout: PluginDirLayout) -> list[str]:
    """Complete generations, oldest first."""
    try:
        names = [entry.name for entry in os.scandir(layout.generations) if entry.name.isdigit()]
    except FileNotFoundError:
        return []
    return sorted(names, key=int)


def read_generation_lock(layout: PluginDirLayout, name: str) -> Lock:
    path = layout.generation_path(name) / LOCK_FILENAME
    try:
        data = path.read_bytes()
    except OSError as error:
        raise PluginDirError(
            f"generation {name} has no readable {LOCK_FILENAME}: {error}"
        ) from error
    from dioptra_plugins.plugindir.pylock import lock_from_toml

    return lock_from_toml(data, str(path))


def merge_conflicts(packages: Iterable[LockedPackage]) -> list[str]:
    """Why these bundles cannot share one generation (empty when they can).

    Two bundles cannot ship the same import package, nor one a portion inside the other's
    package: the generation links each bundle's package in whole, and a namespace merges only
    portions that no bundle ships a parent of.  Each problem names both bundles.
    """
    by_name: dict[str, LockedPackage] = {}
    problems = []
    for package in sorted(packages, key=lambda p: (p.top_level, p.name)):
        other = by_name.setdefault(package.top_level, package)
        if other is not package:
            problems.append(
                f"{_label(other)} and {_label(package)} both ship the module "
                f"{package.top_level!r}; only one can be installed"
            )
    for name, package in sorted(by_name.items()):
        parts = name.split(".")
        for end in range(1, len(parts)):
            outer = by_name.get(".".join(parts[:end]))
            if outer is not None:
                problems.append(
                    f"{_label(outer)} ships the package {outer.top_level!r} and "
                    f"{_label(package)} the namespace portion {name!r} inside it; a namespace "
                    "merges portions from several bundles only when no bundle ships the "
                    "namespace itself (a regular package cannot be split at all)"
                )
    return problems


def _label(package: LockedPackage) -> str:
    return f"{package.name} {package.version}"


def build_generation(layout: PluginDirLayout, lock: Lock, reuse: str | None = None) -> str:
    """Create the next numbered generation holding exactly ``lock``'s bundles; returns its name.

    The lock's ``generation`` field is filled in with the new name before it is written.  A
    link generation ``reuse`` (the current one) already has, with the very same target, is
    hard-linked from there (see :func:`_link`).
    """
    # Deferred: a no-op sync imports this module for its leftovers check and never builds.
    import secrets
    import shutil
    from dataclasses import replace

    from dioptra_plugins.plugindir.pylock import lock_to_toml

    if conflicts := merge_conflicts(lock.packages):
        raise PluginDirError("cannot build a generation: " + "; ".join(conflicts))
    layout.generations.mkdir(parents=True, exist_ok=True)
    existing = generation_names(layout)
    name = f"{int(existing[-1]) + 1 if existing else 1:0{NAME_WIDTH}d}"
    building = layout.generations / f"{BUILDING_PREFIX}{secrets.token_hex(6)}"
    building.mkdir()
    try:
        for directory in PluginDirLayout.namespace_dirs(p.top_level for p in lock.packages):
            (building / directory).mkdir()
        # Plain strings, not Paths: pathlib's joins were a third of this loop at 400 bundles.
        old = os.fspath(layout.generation_path(reuse)) if reuse is not None else None
        for package in lock.packages:
            inside = PluginDirLayout.package_dir(package.top_level)
            link = os.path.join(building, inside)
            target = PluginDirLayout.store_link(package.sha256, package.top_level)
            if not os.path.isdir(os.path.join(os.path.dirname(link), target)):
                raise PluginDirError(f"store entry {package.sha256} has no {inside}/")
            _link(target, link, None if old is None else os.path.join(old, inside))
        (building / LOCK_FILENAME).write_bytes(lock_to_toml(replace(lock, generation=name)))
        os.rename(building, layout.generation_path(name))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return name


def _link(target: str, link: str, same: str | None) -> None:
    """Make ``link`` a symlink to ``target``: a hard link to ``same`` when that is already one.

    Creating an inode is what a generation costs per bundle (a symlink took 0.18 ms on this
    VM's ext4, a hard link 0.007 ms: 70 ms against 3 ms at 400 bundles), so the links a
    changed sync keeps are the current generation's own symlinks, linked again.  ``same`` is
    used only when it reads as exactly ``target``; any refusal (another file system, a link
    count at its limit, a file system without hard links to symlinks) makes a new symlink.
    """
    if same is not None:
        try:
            if os.readlink(same) == target:
                os.link(same, link, follow_symlinks=False)
                return
        except (OSError, NotImplementedError):
            pass
    os.symlink(target, link)


def entry_names(top_levels: Iterable[str]) -> set[str]:
    """The top-level names (entry links) import packages ``top_levels`` need: one per name,
    however many portions of a namespace there are."""
    return {PluginDirLayout.entry_name(top_level) for top_level in top_levels}


def check_entry_names(layout: PluginDirLayout, top_levels: Iterable[str]) -> None:
    """Refuse to switch when a top-level name is taken by something sync does not manage."""
    clashes = []
    root = os.fspath(layout.root)  # strings, not Paths: this runs over every bundle
    for name in sorted(entry_names(top_levels)):
        path = os.path.join(root, name)
        try:
            if os.readlink(path) == PluginDirLayout.entry_link(name):
                continue
        except (FileNotFoundError, NotADirectoryError):
            continue  # nothing there: the name is free
        except OSError as error:
            if error.errno != errno.EINVAL:
                raise
            # EINVAL: something there that is not a link
        clashes.append(path)
    if clashes:
        raise PluginDirError(
            "the plugin dir already holds files that sync does not manage: "
            + ", ".join(clashes)
            + "; move them away or use another plugin dir"
        )


def managed_entry_links(layout: PluginDirLayout) -> dict[str, Path]:
    """Top-level links that sync created: name -> link path."""
    return {name: Path(path) for name, path in _entry_links(layout).items()}


def _entry_links(layout: PluginDirLayout) -> dict[str, str]:
    """:func:`managed_entry_links` as plain strings (a sync reads them over every bundle)."""
    links: dict[str, str] = {}
    try:
        entries = list(os.scandir(layout.root))
    except FileNotFoundError:
        return links
    for entry in entries:
        if entry.is_symlink():
            with contextlib.suppress(OSError):
                if os.readlink(entry.path) == PluginDirLayout.entry_link(entry.name):
                    links[entry.name] = entry.path
    return links


def switch_to(layout: PluginDirLayout, name: str, lock: Lock | None = None) -> None:
    """Make generation ``name`` current, with the entry links kept consistent (see module doc).

    ``lock`` is the generation's lock when the caller has it (it just built the generation):
    reading it back costs 45 ms at 400 bundles.  Signals wait until it is done; whatever it
    raises before the rename, the plugin dir is as it was (no new entry link left dangling).
    """
    if lock is None:
        lock = read_generation_lock(layout, name)
    wanted = entry_names(package.top_level for package in lock.packages)
    with deferred():
        existing = _entry_links(layout)
        # A managed link is ours by definition: only the names it lacks can clash.
        check_entry_names(layout, wanted - existing.keys())
        made: list[Path] = []
        try:
            for top_level in sorted(wanted - existing.keys()):
                os.symlink(PluginDirLayout.entry_link(top_level), layout.root / top_level)
                made.append(layout.root / top_level)
            flush_filesystem(layout.root)
            replace_symlink(layout.current, f"generations/{name}")
        except BaseException:
            # Only when the rename did not happen (it may have, and only its fsync failed).
            if layout.current_name() != name:
                for link in made:
                    with contextlib.suppress(FileNotFoundError):
                        link.unlink()
            raise
        note_switch(str(layout.root), name)
        for top_level in sorted(existing.keys() - wanted):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(existing[top_level])
        fsync_dir(layout.root)
    logger.info("plugin dir %s now at generation %s", layout.root, name)


def remove_dangling_entry_links(layout: PluginDirLayout) -> list[str]:
    """Remove the entry links that lead nowhere (a writer killed inside a switch left them);
    returns their names.  Only under the writer lock: a switch makes such links on purpose."""
    removed = []
    for name, link in sorted(_entry_links(layout).items()):
        if not _leads_somewhere(link):
            with contextlib.suppress(FileNotFoundError):
                os.unlink(link)
                removed.append(name)
    return removed


def _leads_somewhere(link: str) -> bool:
    """Whether ``link`` resolves (``Path.exists``: the errors it takes for "no", raising others)."""
    try:
        os.stat(link)
    except (FileNotFoundError, NotADirectoryError):
        return False
    except OSError as error:
        if error.errno in (errno.ELOOP, errno.EBADF):
            return False
        raise
    return True
