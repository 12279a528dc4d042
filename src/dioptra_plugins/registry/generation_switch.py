"""Following a synced plugin dir when a sync switches its current generation.

The watcher sees ``.dioptra-plugins/current`` change; this re-points ``sys.path`` and package
``__path__`` entries at the new generation, then reloads every loaded module whose content
changed, unloads every module the new generation no longer has, and (with ``load_new``) loads
the packages it added.  The old generation stays on disk until gc, so modules are compared
with, not read from, the new one.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from dioptra_plugins.plugindir.syspath import repoint_generation

if TYPE_CHECKING:
    from dioptra_plugins.registry.registry import Registry
    from dioptra_plugins.registry.reload import ReloadEvent


def still_there(name: str, old: Path, new: Path) -> bool:
    """Whether module ``name``, loaded from generation ``old``, is in generation ``new``
    (the old generation's files stay on disk until gc: look in the new one)."""
    module = sys.modules.get(name)
    if module is None:
        return True
    file = getattr(module, "__file__", None)
    places = [file] if isinstance(file, str) else list(getattr(module, "__path__", []))
    for place in places:
        path = Path(place)
        if path.is_relative_to(old) and (new / path.relative_to(old)).exists():
            return True
        if not path.is_relative_to(old) and path.exists():
            return True
    return False


def follow_switch(
    registry: Registry, root: Path, old: Path, new: Path, *, load_new: bool
) -> tuple[list[ReloadEvent], int]:
    """Move the modules loaded through plugin dir ``root`` from generation ``old`` to ``new``.

    Returns the reload events and the number of reload attempts made (a package loaded whole
    is one attempt, however many events it yields).
    """
    repoint_generation(old, new)
    candidates: set[str] = set()
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if isinstance(file, str) and file.startswith(str(root) + os.sep):
            candidates.add(name)
    events: list[ReloadEvent] = []
    attempts = 0
    gone: list[str] = []
    # Parents first, so that a changed package is live before its submodules are looked up.
    for name in sorted(candidates, key=lambda n: (n.count("."), n)):
        if any(name.startswith(f"{package}.") for package in gone):
            continue  # unloaded with its package, in that package's one event
        if not still_there(name, old, new):
            # The sync removed it (with everything below it): one event, not one per module.
            gone.append(name)
            attempts += 1
            events.append(registry.unload(name))
            continue
        event = registry.reload_if_changed(name)
        if event is not None:
            attempts += 1
            events.append(event)
    if load_new:  # packages the sync added: loaded as a new folder would be
        for entry in sorted(new.iterdir()):
            if entry.name.isidentifier() and entry.is_dir() and entry.name not in sys.modules:
                attempts += 1
                events += registry.load_new_package(entry.name)
    return events, attempts
