"""What a directory holds, to compare before and after: proof that nothing changed; and what a
plugin dir's current generation holds."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from dioptra_plugins.plugindir.generations import read_generation_lock
from dioptra_plugins.plugindir.layout import PluginDirLayout


def tree_snapshot(root: Path, *, skip: Iterable[str] = (), modes: bool = False) -> dict[str, str]:
    """Every path under ``root``: its link target, its file's sha256, or ``dir``.

    Paths starting with one of ``skip`` (relative, ``/``-separated) are left out; with
    ``modes`` every entry also carries its permission bits.  Links are not followed.
    """
    skipped = tuple(skip)
    found: dict[str, str] = {}
    for directory, dirs, files in os.walk(root):
        for name in dirs + files:
            path = Path(directory, name)
            relative = path.relative_to(root).as_posix()
            if skipped and relative.startswith(skipped):
                continue
            if path.is_symlink():
                found[relative] = "-> " + os.readlink(path)
                continue
            kind = "dir" if path.is_dir() else hashlib.sha256(path.read_bytes()).hexdigest()
            found[relative] = f"{oct(path.lstat().st_mode)} {kind}" if modes else kind
    return found


def installed(plugin_dir: Path) -> dict[str, str]:
    """What the current generation holds: project name -> version (empty when unsynced)."""
    layout = PluginDirLayout(plugin_dir)
    name = layout.current_name()
    if name is None:
        return {}
    return {p.name: p.version for p in read_generation_lock(layout, name).packages}
