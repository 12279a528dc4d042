"""Which module each watched source file is: the watcher's index from file to module name.

Kept apart from the watcher because two threads use it: the observer thread asks "which
module is this file?" for every event, the reload thread changes the answer after a reload.
So both maps are replaced whole, never mutated (copy-on-write), and either thread may read
them without a lock.  Paths are real paths (symlinks resolved), so an event under an entry link
and one in the store name the same file.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dioptra_plugins.registry.registry import Registry
    from dioptra_plugins.registry.reload import ReloadEvent


def real_path(path: str | os.PathLike[str]) -> str:
    return os.path.realpath(os.fsdecode(path))


class ModuleFiles:
    """Real path of a module's file -> module name, for loaded and for unloaded modules."""

    def __init__(self, registry: Registry) -> None:
        self._registry = registry
        self._loaded: dict[str, str] = {}
        self._vanished: dict[str, str] = {}  # files of modules unloaded (deleted) since

    def names(self) -> set[str]:
        return {*self._loaded.values(), *self._vanished.values()}

    def module_of(self, path: str) -> str | None:
        real = real_path(path)
        return self._loaded.get(real) or self._vanished.get(real)

    def file_of(self, name: str) -> str | None:
        for path, known in (*self._loaded.items(), *self._vanished.items()):
            if known == name:
                return path
        return None

    def under(self, directory: str) -> set[str]:
        """The modules whose files are below ``directory``."""
        prefix = real_path(directory).rstrip(os.sep) + os.sep
        known = {**self._vanished, **self._loaded}
        return {name for path, name in known.items() if path.startswith(prefix)}

    def refresh(self, source_dirs: Iterable[Path]) -> None:
        """Rebuild the loaded map from ``sys.modules`` and the registry, below ``source_dirs``.

        Cost: one pass over ``sys.modules`` (a few thousand entries) and a realpath per match.
        """
        dirs = list(source_dirs)
        prefixes = tuple(
            [real_path(d).rstrip(os.sep) + os.sep for d in dirs]
            + [str(d).rstrip(os.sep) + os.sep for d in dirs]
        )
        loaded: dict[str, str] = {}
        for name, module in list(sys.modules.items()):
            file = getattr(module, "__file__", None)
            if isinstance(file, str) and file.endswith(".py") and file.startswith(prefixes):
                loaded[real_path(file)] = name
        for name in self._registry.modules():
            entry = self._registry.entry(name)
            if entry is not None and entry.file is not None:
                real = real_path(entry.file)
                if real.startswith(prefixes):
                    loaded.setdefault(real, name)
        self._loaded = loaded

    def after_reload(self, name: str, file: str | None, event: ReloadEvent) -> None:
        """Record what a reload of ``name`` did: unloaded (its file vanished), or loaded."""
        if file is None or not (event.unloaded or event.error is None):
            return
        loaded, vanished = dict(self._loaded), dict(self._vanished)
        if event.unloaded:
            loaded.pop(file, None)
            vanished[file] = name
        else:
            vanished.pop(file, None)
            loaded[file] = name
        self._loaded, self._vanished = loaded, vanished
