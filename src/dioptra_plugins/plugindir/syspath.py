"""The ``sys.path`` entries that import from plugin dirs: the only code that edits them.

:func:`plugin_dirs` puts the plugin dirs of ``DIOPTRA_PLUGIN_DIR`` on ``sys.path`` for a block.
A plain directory goes on the path as it is.  A synced plugin dir (DESIGN §5) is replaced by
its *current generation*, resolved once on entry and pinned until the block exits: the
generation is immutable and ``gc`` will not collect it, so a sync that switches ``current``
while a job runs never changes the code that job imports.

:func:`repoint_generation` is how the watcher follows a generation switch: it swaps one
generation's entry for the next, in ``sys.path``, in packages' ``__path__`` and in the record of
every open :func:`plugin_dirs` block, so each block still removes exactly the entries it added.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path

from dioptra_plugins.plugindir.layout import PluginDirLayout, readable_plugin_dirs
from dioptra_plugins.plugindir.pins import PinnedGeneration

logger = logging.getLogger(__name__)

# The entries each open plugin_dirs() block added, as lists that repoint_generation edits.
_open_blocks: list[list[str]] = []
_edit_lock = threading.Lock()


@contextlib.contextmanager
def plugin_dirs(
    value: str | Sequence[str | os.PathLike[str]] | None = None,
) -> Iterator[list[Path]]:
    """Put plugin dirs on ``sys.path`` right after ``sys.path[0]`` until the block exits.

    Yields the directories actually put on the path (generation dirs for synced plugin dirs).
    On exit exactly the entries this call added are removed again, even when a watcher moved
    one of them on to a newer generation meanwhile.
    """
    with contextlib.ExitStack() as stack:
        entries: list[Path] = []
        for directory in readable_plugin_dirs(value):
            layout = PluginDirLayout(directory)
            if layout.is_synced():
                entries.append(stack.enter_context(PinnedGeneration(layout)).path)
            else:
                entries.append(directory)
        with _edit_lock:
            before = set(sys.path)
            added = [str(entry) for entry in entries if str(entry) not in before]
            sys.path[1:1] = added
            _open_blocks.append(added)
        logger.debug("plugin dirs on sys.path: %s", added)
        try:
            yield entries
        finally:
            with _edit_lock:
                _open_blocks.remove(added)
                mine = set(added)
                sys.path[:] = [entry for entry in sys.path if entry not in mine]


def repoint_generation(old: Path, new: Path) -> None:
    """Make imports that found generation ``old`` find generation ``new`` instead."""
    old_text, new_text = str(old), str(new)
    prefix = old_text + os.sep
    with _edit_lock:
        sys.path[:] = [new_text if entry == old_text else entry for entry in sys.path]
        for added in _open_blocks:
            added[:] = [new_text if entry == old_text else entry for entry in added]
    for module in list(sys.modules.values()):
        search = getattr(module, "__path__", None)
        if isinstance(search, list) and any(p.startswith(prefix) for p in search):
            search[:] = [
                new_text + p[len(old_text) :] if p.startswith(prefix) else p for p in search
            ]
