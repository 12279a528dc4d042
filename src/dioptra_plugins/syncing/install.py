"""Installing a chosen set: store what is missing, build the next generation, switch to it.

Until the switch's rename nothing a reader sees changes; a failure before it (an error, a full
disk, SIGINT or SIGTERM) removes the half-built generation and the store entries this install
created that no generation links to, so a failed sync leaves the plugin dir as it found it.
The switch and the caller's bookkeeping after it are one critical section
(:class:`dioptra_plugins.signals.deferred`).
"""

from __future__ import annotations

import contextlib
import logging
import os
import secrets
import shutil
from collections.abc import Callable, Sequence

from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.plugindir.generations import (
    build_generation,
    check_entry_names,
    generation_names,
    switch_to,
)
from dioptra_plugins.plugindir.layout import STAGING_PREFIX, PluginDirLayout
from dioptra_plugins.plugindir.pylock import Lock, LockedPackage
from dioptra_plugins.signals import deferred
from dioptra_plugins.syncing.bytecode import BytecodeCompiler
from dioptra_plugins.syncing.download import FetchedBundle, fetch_bundles
from dioptra_plugins.syncing.store import add_to_store
from dioptra_plugins.syncing.writeback import EarlyWriteback

logger = logging.getLogger(__name__)

Progress = Callable[[int, int], None]

HELPERS_FROM = 4
"""Bundles to store before bytecode is compiled in helper processes (start-up ~15 ms each)."""


def _missing(layout: PluginDirLayout, packages: Sequence[LockedPackage]) -> list[LockedPackage]:
    """The packages whose store entry does not exist (one stat each, asked once a sync)."""
    store = os.fspath(layout.store)
    return [p for p in packages if not os.path.isdir(os.path.join(store, p.sha256))]


def _compiler(missing: int) -> BytecodeCompiler:
    """Helper processes, one a core, when enough bundles are missing from the store to pay off."""
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
    switched: Callable[[str], None] | None = None,
) -> tuple[str, int]:
    """Make ``lock``'s packages the current generation; returns (its name, bundles downloaded).

    ``switched(name)`` runs right after the switch, in the same critical section: a signal
    cannot fall between the switch and what the caller records about it.
    """
    packages: Sequence[LockedPackage] = lock.packages
    check_entry_names(layout, (p.top_level for p in packages))
    before = store_entries(layout)
    try:
        # Only the missing ones are handed on (fetch_bundles checks those again, not all).
        missing = _missing(layout, packages)
        with EarlyWriteback(layout.root) as writeback, _compiler(len(missing)) as compiler:

            def store(fetched: FetchedBundle) -> None:
                add_to_store(layout, fetched, compiler)
                writeback.stored(fetched.package.size)

            downloaded = fetch_bundles(
                storage, layout, missing, store, jobs=jobs, progress=progress, stored=stored
            )
        name = build_generation(layout, lock, reuse=layout.current_name())
        with deferred():
            try:
                switch_to(layout, name, lock)
            except BaseException:
                if layout.current_name() != name:
                    shutil.rmtree(layout.generation_path(name), ignore_errors=True)
                raise
            if switched is not None:
                switched(name)
    except BaseException:
        with deferred():  # a second signal must not cut the clean-up short
            remove_unused_entries(layout, store_entries(layout) - before)
        raise
    return name, downloaded


def store_entries(layout: PluginDirLayout) -> set[str]:
    """The names (sha256) of the store's complete entries."""
    try:
        return {e.name for e in os.scandir(layout.store) if len(e.name) == 64}
    except FileNotFoundError:
        return set()


def remove_unused_entries(layout: PluginDirLayout, candidates: set[str]) -> list[str]:
    """Delete the store entries among ``candidates`` that no generation links to; returns them.

    Used for the entries a failed install created.  Fails closed: when a generation cannot be
    read, nothing is deleted (``gc`` reports it).
    """
    from dioptra_plugins.plugindir.gc import store_entries_reached

    if not candidates:
        return []
    used: set[str] = set()
    try:
        for name in generation_names(layout):
            used |= store_entries_reached(layout, name)
    except PluginDirError as error:
        logger.warning("keeping the store entries this sync made: %s", error)
        return []
    removed = sorted(candidates - used)
    for sha256 in removed:
        with contextlib.suppress(FileNotFoundError):
            _remove_entry(layout, sha256)
    if removed:
        logger.info("removed %d store entries the failed sync made", len(removed))
    return removed


def _remove_entry(layout: PluginDirLayout, sha256: str) -> None:
    """Delete a store entry: renamed to a staging name first, so that a kill in the middle
    leaves a leftover the next writer removes, never a half-deleted ``store/<sha256>``."""
    doomed = layout.store / f"{STAGING_PREFIX}{secrets.token_hex(6)}"
    os.rename(layout.store_entry(sha256), doomed)
    shutil.rmtree(doomed, ignore_errors=True)
