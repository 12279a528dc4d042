"""``plugin_dirs()``: put the plugin dirs of ``DIOPTRA_PLUGIN_DIR`` on ``sys.path`` for a block.

A plain directory goes on the path as it is.  A synced plugin dir (DESIGN §5) is replaced by
its *current generation*, resolved once on entry and pinned until the block exits: the
generation is immutable and ``gc`` will not collect it, so a sync that switches ``current``
while a job runs never changes the code that job imports.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
from collections.abc import Iterator, Sequence
from pathlib import Path

from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.sync.layout import PluginDirLayout, pin_generation

logger = logging.getLogger(__name__)

PLUGIN_DIR_VARIABLE = "DIOPTRA_PLUGIN_DIR"


def parse_plugin_dirs(value: str | Sequence[str | os.PathLike[str]] | None) -> list[Path]:
    """The absolute, existing directories in ``value`` (``:``-separated), without duplicates.

    ``None`` reads ``$DIOPTRA_PLUGIN_DIR``.  Relative or missing entries are skipped with a
    warning rather than put on the path, where they would silently import from the cwd.
    """
    if value is None:
        value = os.environ.get(PLUGIN_DIR_VARIABLE, "")
    items = value.split(os.pathsep) if isinstance(value, str) else [os.fspath(v) for v in value]
    found: list[Path] = []
    for item in items:
        if not item:
            continue
        path = Path(item)
        if not path.is_absolute():
            logger.warning("ignoring plugin dir %r: not an absolute path", item)
        elif not path.is_dir():
            logger.warning("ignoring plugin dir %r: not an existing directory", item)
        elif path not in found:
            found.append(path)
    return found


def _pinned_generation(layout: PluginDirLayout, stack: contextlib.ExitStack) -> Path:
    """Resolve and pin ``current``; retry if a sync switched (and collected) it in between."""
    for _ in range(5):
        generation = layout.current_generation()
        if generation is None or not generation.is_dir():
            raise PluginDirError(f"{layout.root}: 'current' does not point at a generation")
        pin = stack.enter_context(pin_generation(layout, generation))
        if generation.is_dir():  # still there after pinning: gc can no longer take it
            return generation
        if pin is not None:
            pin.unlink(missing_ok=True)
    raise PluginDirError(f"{layout.root}: the current generation kept changing; try again")


@contextlib.contextmanager
def plugin_dirs(
    value: str | Sequence[str | os.PathLike[str]] | None = None,
) -> Iterator[list[Path]]:
    """Put plugin dirs on ``sys.path`` right after ``sys.path[0]`` until the block exits.

    Yields the directories actually put on the path (generation dirs for synced plugin dirs).
    On exit exactly the entries this call added are removed again.
    """
    with contextlib.ExitStack() as stack:
        entries: list[Path] = []
        generation_roots: list[Path] = []
        for directory in parse_plugin_dirs(value):
            layout = PluginDirLayout(directory)
            if layout.is_synced():
                entries.append(_pinned_generation(layout, stack))
                generation_roots.append(layout.generations.resolve())
            else:
                entries.append(directory)
        before = set(sys.path)
        added = [str(entry) for entry in entries if str(entry) not in before]
        sys.path[1:1] = added
        logger.debug("plugin dirs on sys.path: %s", added)
        try:
            yield entries
        finally:
            # A watcher may have re-pointed one of our generation entries at a newer
            # generation of the same plugin dir; that entry is ours to remove too.
            def ours(entry: str) -> bool:
                if entry in added:
                    return True
                return entry not in before and any(
                    Path(entry).parent == root for root in generation_roots
                )

            sys.path[:] = [entry for entry in sys.path if not ours(entry)]
