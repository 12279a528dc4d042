"""Reading and switching a synced plugin dir: ``list`` its current generation, ``rollback``.

``verify`` is :mod:`.verify_dir`, ``gc`` is :mod:`.gc`.  ``rollback`` takes the plugin dir's
writer lock, like a sync, and checks the target generation before switching to it.
"""

from __future__ import annotations

import json
import os
from typing import Any

from dioptra_plugins.bundle.manifest import MANIFEST_FILENAME
from dioptra_plugins.errors import PluginDirError, UsageError
from dioptra_plugins.plugindir.generations import (
    generation_names,
    read_generation_lock,
    switch_to,
)
from dioptra_plugins.plugindir.layout import PluginDirLayout, synced_plugin_dir
from dioptra_plugins.plugindir.pins import pinned_generations
from dioptra_plugins.plugindir.verify_dir import VerifyReport, dist_info_of, verify_generation
from dioptra_plugins.plugindir.writer_lock import writer_lock


def _tasks(layout: PluginDirLayout, sha256: str) -> list[dict[str, Any]]:
    dist_info = dist_info_of(layout.store / sha256)
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
    layout = synced_plugin_dir(plugin_dir)
    current = layout.current_name()
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
                "provenance": dict(package.provenance) if package.provenance else None,
            }
            for package in lock.packages
        ],
        "generations": generation_names(layout),
        "pinned": sorted(pinned_generations(layout)),
    }


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
    layout = synced_plugin_dir(plugin_dir)
    with writer_lock(layout.lock_file, lock_timeout):
        current = layout.current_name()
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
            verify_generation(layout, target, report)
            if report.problems:
                raise PluginDirError(
                    f"generation {target} is damaged: " + "; ".join(report.problems)
                )
            switch_to(layout, target)
        return {"plugin_dir": str(layout.root), "from": current, "to": target}
