"""Installing a chosen set: store what is missing, build the next generation, switch to it.

Until the switch's rename nothing a reader sees changes; a failure before it removes the half-
built generation (the store and cache may keep verified entries: invisible, and reused).
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Callable, Sequence

from dioptra_plugins.index.storage import Storage
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.syncing.bytecode import BytecodeCompiler
from dioptra_plugins.syncing.download import fetch_bundles
from dioptra_plugins.syncing.generations import build_generation, check_entry_names, switch_to
from dioptra_plugins.syncing.pylock import Lock, LockedPackage
from dioptra_plugins.syncing.store import add_to_store

Progress = Callable[[int, int], None]

HELPERS_FROM = 4
"""Bundles to store before bytecode is compiled in helper processes (start-up ~15 ms each)."""


def _compiler(layout: PluginDirLayout, packages: Sequence[LockedPackage]) -> BytecodeCompiler:
    """Helper processes, one a core, when enough bundles are missing from the store to pay off."""
    missing = sum(1 for p in packages if not layout.store_entry(p.sha256).is_dir())
    cores = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return BytecodeCompiler(processes=(cores or 1) if missing >= HELPERS_FROM else 0)


def reinstall_packages(
    layout: PluginDirLayout,
    storage: Storage,
    packages: Sequence[LockedPackage],
    *,
    jobs: int,
    progress: Progress | None,
) -> list[str]:
    """Verify and extract every package again, each fresh entry swapped in for the old one.

    Every bundle is downloaded again (wheels are not kept).  Returns the names of the packages
    reinstalled.
    """
    with BytecodeCompiler(processes=0) as compiler:
        fetch_bundles(
            storage,
            layout,
            list(packages),
            lambda fetched: add_to_store(layout, fetched, compiler, replace=True),
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
    with _compiler(layout, packages) as compiler:
        downloaded = fetch_bundles(
            storage,
            layout,
            list(packages),
            lambda fetched: add_to_store(layout, fetched, compiler),
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
