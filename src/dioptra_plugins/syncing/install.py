"""Installing a chosen set: store what is missing, build the next generation, switch to it.

Until the switch's rename nothing a reader sees changes; a failure before it removes the half-
built generation (the store and cache may keep verified entries: invisible, and reused).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Sequence

from dioptra_plugins.index.storage import Storage
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.syncing.download import fetch_bundles
from dioptra_plugins.syncing.generations import build_generation, check_entry_names, switch_to
from dioptra_plugins.syncing.pylock import Lock, LockedPackage
from dioptra_plugins.syncing.store import add_to_store

Progress = Callable[[int, int], None]


def reinstall_packages(
    layout: PluginDirLayout,
    storage: Storage,
    packages: Sequence[LockedPackage],
    *,
    jobs: int,
    progress: Progress | None,
) -> list[str]:
    """Verify and extract every package again, each fresh entry swapped in for the old one.

    The download cache is trusted only as far as verification goes (a damaged cached wheel is
    downloaded again).  Returns the names of the packages reinstalled.
    """
    fetch_bundles(
        storage,
        layout,
        list(packages),
        lambda package, path: add_to_store(layout, path, package, replace=True),
        jobs=jobs,
        progress=progress,
        include_stored=True,
    )
    return sorted(p.name for p in packages)


def install_generation(
    layout: PluginDirLayout,
    storage: Storage,
    lock: Lock,
    *,
    jobs: int,
    progress: Progress | None,
    stored: Progress | None = None,
) -> tuple[str, int]:
    """Make ``lock``'s packages the current generation; returns (its name, bundles downloaded)."""
    packages: Sequence[LockedPackage] = lock.packages
    check_entry_names(layout, (p.top_level for p in packages))
    downloaded = fetch_bundles(
        storage,
        layout,
        list(packages),
        lambda package, path: add_to_store(layout, path, package),
        jobs=jobs,
        progress=progress,
        stored=stored,
    )
    name = build_generation(layout, lock)
    try:
        switch_to(layout, name)
    except BaseException:
        if layout.current_name() != name:
            shutil.rmtree(layout.generation_path(name), ignore_errors=True)
        raise
    return name, downloaded
