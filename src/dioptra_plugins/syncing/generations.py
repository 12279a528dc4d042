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
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Iterable
from pathlib import Path

from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.fsutil import flush_filesystem, fsync_dir, replace_symlink
from dioptra_plugins.plugindir.layout import BUILDING_PREFIX, PluginDirLayout
from dioptra_plugins.syncing.pylock import Lock, lock_from_toml, lock_to_toml

logger = logging.getLogger(__name__)

LOCK_FILENAME = "pylock.toml"
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
    return lock_from_toml(data, str(path))


def build_generation(layout: PluginDirLayout, lock: Lock) -> str:
    """Create the next numbered generation holding exactly ``lock``'s bundles; returns its name.

    The lock's ``generation`` field is filled in with the new name before it is written.
    """
    from dataclasses import replace

    layout.generations.mkdir(parents=True, exist_ok=True)
    existing = generation_names(layout)
    name = f"{int(existing[-1]) + 1 if existing else 1:0{NAME_WIDTH}d}"
    building = layout.generations / f"{BUILDING_PREFIX}{secrets.token_hex(6)}"
    building.mkdir()
    try:
        for package in lock.packages:
            target = PluginDirLayout.store_link(package.sha256, package.top_level)
            if not (building / target).is_dir():
                raise PluginDirError(f"store entry {package.sha256} has no {package.top_level}/")
            os.symlink(target, building / package.top_level)
        (building / LOCK_FILENAME).write_bytes(lock_to_toml(replace(lock, generation=name)))
        os.rename(building, layout.generation_path(name))
    except BaseException:
        shutil.rmtree(building, ignore_errors=True)
        raise
    return name


def check_entry_names(layout: PluginDirLayout, top_levels: Iterable[str]) -> None:
    """Refuse to switch when a top-level name is taken by something sync does not manage."""
    clashes = []
    for top_level in top_levels:
        path = layout.root / top_level
        if path.is_symlink() and os.readlink(path) == PluginDirLayout.entry_link(top_level):
            continue
        if path.exists() or path.is_symlink():
            clashes.append(str(path))
    if clashes:
        raise PluginDirError(
            "the plugin dir already holds files that sync does not manage: "
            + ", ".join(clashes)
            + "; move them away or use another plugin dir"
        )


def managed_entry_links(layout: PluginDirLayout) -> dict[str, Path]:
    """Top-level links that sync created: name -> link path."""
    links: dict[str, Path] = {}
    try:
        entries = list(os.scandir(layout.root))
    except FileNotFoundError:
        return links
    for entry in entries:
        if entry.is_symlink():
            with contextlib.suppress(OSError):
                if os.readlink(entry.path) == PluginDirLayout.entry_link(entry.name):
                    links[entry.name] = Path(entry.path)
    return links


def switch_to(layout: PluginDirLayout, name: str) -> None:
    """Make generation ``name`` current, with the entry links kept consistent (see module doc)."""
    lock = read_generation_lock(layout, name)
    wanted = {package.top_level for package in lock.packages}
    check_entry_names(layout, wanted)
    existing = managed_entry_links(layout)
    for top_level in sorted(wanted - existing.keys()):
        os.symlink(PluginDirLayout.entry_link(top_level), layout.root / top_level)
    flush_filesystem(layout.root)
    replace_symlink(layout.current, f"generations/{name}")
    for top_level in sorted(existing.keys() - wanted):
        with contextlib.suppress(FileNotFoundError):
            existing[top_level].unlink()
    fsync_dir(layout.root)
    logger.info("plugin dir %s now at generation %s", layout.root, name)
