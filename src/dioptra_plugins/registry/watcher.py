"""The watchdog side of hot reload: turn file-system events into debounced module reloads.

Editors save in several ways (write in place; write a temp file and ``os.replace`` it over the
original; rename the original away and create a new file, as vim does) and produce bursts of
events for one save.  The watcher maps every event to the *module* it concerns.  The step
that finishes a save (the file closed after writing, or renamed into place) reloads at once:
the leading edge, so an edit is visible in a millisecond or two rather than after a quiet
period.  Every other step (a truncation, a creation, a write still open), and any save that
comes within ``debounce`` seconds of the module's previous one (a burst), waits until the module
has been quiet for ``debounce`` seconds: the trailing edge.  Either way the registry reloads
only if the source hash changed, so touches, attribute changes, reads, our own ``__pycache__``
traffic and the trailing edge of a burst already loaded never cause a reload; and because an
event is taken off the queue before the file is read, a write that lands during a reload queues
another, so the last save is always the one loaded.  A half-written file that fails to import
keeps the old version (the next event reloads); an empty file where the loaded source was not
is most likely the first step of a truncate-then-write save, so it is loaded only if it is still
empty ``debounce`` seconds later.  A file that is missing when its turn comes gets a short grace
period first (the gap inside a vim-style save), then is unregistered.

For a synced plugin dir the watcher follows ``.dioptra-plugins/current``: when a sync switches
it, ``sys.path`` and package ``__path__`` entries are re-pointed at the new generation (which
the watcher pins, as ``plugin_dirs()`` does) and every module whose file content changed is
reloaded.
"""

from __future__ import annotations

import contextlib
import logging
import math
import os
import sys
import threading
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from watchdog.events import (
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
    FileClosedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileModifiedEvent,
    FileMovedEvent,
    FileSystemEvent,
    FileSystemEventHandler,
)
from watchdog.observers import Observer

from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.plugindir.layout import (
    PLUGIN_DIR_VARIABLE,
    PluginDirLayout,
    readable_plugin_dirs,
)
from dioptra_plugins.plugindir.pins import PinnedGeneration
from dioptra_plugins.registry.generation_switch import follow_switch
from dioptra_plugins.registry.module_files import ModuleFiles
from dioptra_plugins.registry.reload import ReloadEvent, SourceEmptied

if TYPE_CHECKING:
    from dioptra_plugins.registry.registry import Registry

logger = logging.getLogger(__name__)

# Seconds a module must be quiet before the trailing reload of a burst (or of a save whose
# finishing step was not seen); a lone finished save does not wait for it.
DEFAULT_DEBOUNCE = 0.02
DELETE_GRACE = 0.1  # extra wait before a missing file counts as deleted (vim-style saves)

# Only these reach us: opens, reads (close-no-write) and our own reads during a reload are
# filtered out in the kernel's inotify mask already.
_EVENT_FILTER = [
    FileModifiedEvent,
    FileCreatedEvent,
    FileDeletedEvent,
    FileMovedEvent,
    FileClosedEvent,
    DirCreatedEvent,
    DirDeletedEvent,
    DirMovedEvent,
]
_FILE_EVENTS = (FileModifiedEvent, FileCreatedEvent, FileDeletedEvent, FileMovedEvent)
_GENERATION_KEY = "\0generation:"
_NEW_PACKAGE_KEY = "\0package:"
NEW_PACKAGE_SETTLE = 0.1  # a new package folder is usually filled by several writes (cp -r, git)


@dataclass
class _Root:
    path: Path
    layout: PluginDirLayout | None = None  # set for a synced plugin dir
    pinned: PinnedGeneration | None = None


class _Handler(FileSystemEventHandler):
    def __init__(self, watcher: Watcher) -> None:
        self._watcher = watcher

    def on_any_event(self, event: FileSystemEvent) -> None:
        try:
            self._watcher._on_event(event)
        except Exception:  # never let one odd event kill the observer thread
            logger.exception("watcher could not handle %r", event)


class Watcher:
    """Watches plugin dirs and reloads changed modules into ``registry``.

    Use :func:`watch` rather than driving this class directly.
    """

    def __init__(
        self,
        directories: Sequence[Path],
        registry: Registry,
        *,
        debounce: float = DEFAULT_DEBOUNCE,
        delete_grace: float = DELETE_GRACE,
        load_new: bool = False,
    ) -> None:
        self.registry = registry
        self.load_new = load_new
        self.debounce = debounce
        self.delete_grace = delete_grace
        self.reload_count = 0  # reload attempts made (unchanged sources are not attempts)
        self._roots = [_Root(Path(d).absolute()) for d in directories]
        self._observer: Observer | None = None  # type: ignore[valid-type]
        self._cond = threading.Condition()
        self._pending: dict[str, float] = {}  # module name (or generation key) -> deadline
        self._last_save: dict[str, float] = {}  # module -> when a save of it last finished
        self._stopping = False
        self._worker: threading.Thread | None = None
        self._files = ModuleFiles(registry)
        self._in_grace: set[str] = set()
        self._held_empty: set[str] = set()

    # --- life cycle ------------------------------------------------------------------------------

    def start(self) -> None:
        for root in self._roots:
            layout = PluginDirLayout(root.path)
            if layout.is_synced():
                root.layout = layout
                root.pinned = PinnedGeneration(layout)
        self.registry.adopt_loaded(self._source_dirs())
        self._files.refresh(self._source_dirs())
        observer = Observer()
        handler = _Handler(self)
        for root in self._roots:
            if root.layout is not None:  # the store is immutable: only the switch matters
                observer.schedule(handler, str(root.layout.meta), recursive=False)
            else:
                observer.schedule(
                    handler, str(root.path), recursive=True, event_filter=_EVENT_FILTER
                )
        observer.start()
        self._observer = observer
        self._worker = threading.Thread(
            target=self._run, name="dioptra-plugins-reload", daemon=True
        )
        self._worker.start()
        logger.info("watching %s", ", ".join(str(root.path) for root in self._roots))

    def stop(self) -> None:
        if self._observer is not None:
            self._observer.stop()
            self._observer.join()
            self._observer = None
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        if self._worker is not None:
            self._worker.join()
            self._worker = None
        for root in self._roots:
            if root.pinned is not None:
                root.pinned.release()

    # --- public helpers --------------------------------------------------------------------------

    def rescan(self) -> list[ReloadEvent]:
        """Check every watched module now (and any generation switch); returns the reloads."""
        events: list[ReloadEvent] = []
        for root in self._roots:
            if root.layout is not None:
                events.extend(self._check_generation(root))
        self._files.refresh(self._source_dirs())
        for name in sorted(self._files.names()):
            event = self._reload(name)
            if event is not None:
                events.append(event)
        return events

    # --- events ----------------------------------------------------------------------------------

    def _on_event(self, event: FileSystemEvent) -> None:
        src = os.fsdecode(event.src_path)
        dest = os.fsdecode(getattr(event, "dest_path", "") or "")
        for index, root in enumerate(self._roots):
            if root.layout is not None and str(root.layout.current) in (src, dest):
                self._schedule(f"{_GENERATION_KEY}{index}", 0.0)
        if "__pycache__" in src.split(os.sep) and (not dest or "__pycache__" in dest):
            return
        if isinstance(event, DirDeletedEvent | DirMovedEvent):
            for name in self._files.under(src):
                self._schedule(name, self.debounce)
        if isinstance(event, DirMovedEvent | DirCreatedEvent):
            for name in self._files.under(dest or src):
                self._schedule(name, self.debounce)
            if self.load_new:
                self._schedule_new_package(Path(dest or src))
        if not isinstance(event, (*_FILE_EVENTS, FileClosedEvent)):
            return
        for path in (src, dest):
            if path.endswith(".py") and "__pycache__" not in path.split(os.sep):
                module = self._module_for(path)
                if module is not None:
                    # Closed after writing, or renamed into place: that save's last step.
                    finished = isinstance(event, FileClosedEvent) or path == dest
                    self._schedule_save(module, finished=finished)

    def _schedule_save(self, module: str, *, finished: bool) -> None:
        """One step of a save of ``module``: the leading edge if it finishes a save that is not
        inside a burst, else the trailing edge.  Called on the observer thread only."""
        if finished:
            now = time.monotonic()
            quiet = now - self._last_save.get(module, -math.inf) > self.debounce
            self._last_save[module] = now
            if quiet:
                self._schedule(module, 0.0)
                return
        self._schedule(module, self.debounce)

    def _schedule(self, key: str, delay: float) -> None:
        with self._cond:
            self._pending[key] = time.monotonic() + delay
            self._cond.notify()

    def _module_for(self, path: str) -> str | None:
        name = self._files.module_of(path)
        if name is None:
            self._files.refresh(self._source_dirs())
            name = self._files.module_of(path)
        if name is None and self.load_new:
            name = self._new_module_name(Path(path))
            if name is None:
                self._schedule_new_package(Path(path))
        return name

    def _schedule_new_package(self, path: Path) -> None:
        """A path inside a top-level package folder nobody imported yet: load that package
        whole once its folder settles (its files may arrive in any order, __init__ last)."""
        for root in self._roots:
            if root.layout is not None or not path.is_relative_to(root.path):
                continue
            parts = path.relative_to(root.path).parts
            if not parts or not parts[0].isidentifier() or parts[0] in sys.modules:
                continue
            if len(parts) > 1 or (root.path / parts[0]).is_dir():
                self._schedule(f"{_NEW_PACKAGE_KEY}{parts[0]}", NEW_PACKAGE_SETTLE)

    def _new_module_name(self, path: Path) -> str | None:
        """The module a new ``.py`` file under an unsynced root would be, if importable now.

        Only files directly in a root (top-level modules) or in an already imported package
        qualify: anything else would need importing packages nobody asked for.
        """
        for root in self._roots:
            if root.layout is not None or not path.is_relative_to(root.path):
                continue
            parts = path.relative_to(root.path).with_suffix("").parts
            if not parts or not all(part.isidentifier() for part in parts):
                return None
            if parts[-1] == "__init__":
                parts = parts[:-1]
            name = ".".join(parts)
            parent = name.rpartition(".")[0]
            if len(parts) == 1 and (root.path / parts[0]).is_dir():
                return None  # a new package's __init__: the package is loaded whole
            if name and (not parent or parent in sys.modules):
                return name
        return None

    def _source_dirs(self) -> list[Path]:
        dirs: list[Path] = []
        for root in self._roots:
            dirs.append(root.path)
            if root.pinned is not None:
                dirs.append(root.pinned.path)
        return dirs

    # --- the reload worker -----------------------------------------------------------------------

    def _run(self) -> None:
        while True:
            with self._cond:
                due: list[str] = []
                while not self._stopping:
                    now = time.monotonic()
                    due = [key for key, deadline in self._pending.items() if deadline <= now]
                    if due:
                        # Off the queue before the file is read: a write from now on queues
                        # another reload, so the last save is the one that ends up loaded.
                        for key in due:
                            del self._pending[key]
                        break
                    timeout = min(self._pending.values()) - now if self._pending else None
                    self._cond.wait(timeout)
                if self._stopping:
                    return
            for key in sorted(due):
                try:
                    self._process(key)
                except Exception:
                    logger.exception("reloading %s failed unexpectedly", key)

    def _process(self, key: str) -> None:
        if key.startswith(_GENERATION_KEY):
            self._check_generation(self._roots[int(key[len(_GENERATION_KEY) :])])
            return
        if key.startswith(_NEW_PACKAGE_KEY):
            package = key[len(_NEW_PACKAGE_KEY) :]
            if package not in sys.modules:
                self.reload_count += 1
                self.registry.load_new_package(package)
                self._files.refresh(self._source_dirs())
            return
        file = self._files.file_of(key)
        if file is not None and not os.path.exists(file) and key not in self._in_grace:
            self._in_grace.add(key)  # maybe the gap inside a vim-style save: look again soon
            self._schedule(key, self.delete_grace)
            return
        self._in_grace.discard(key)
        # An emptied file (its loaded source was not empty) is held once: most likely a save
        # that truncates, then writes, read in between. The registry checks the very bytes it
        # would run, so a truncation landing after any check of ours cannot slip through.
        hold = key not in self._held_empty
        self._held_empty.discard(key)
        try:
            self._reload(key, hold_emptied=hold)
        except SourceEmptied:
            self._held_empty.add(key)
            self._schedule(key, self.debounce)

    def _reload(self, name: str, *, hold_emptied: bool = False) -> ReloadEvent | None:
        file = self._files.file_of(name)
        event = self.registry.reload_if_changed(name, hold_emptied=hold_emptied)
        if event is None:
            return None
        self.reload_count += 1
        self._files.after_reload(name, file, event)
        return event

    # --- generation switches of a synced plugin dir ----------------------------------------------

    def _check_generation(self, root: _Root) -> list[ReloadEvent]:
        assert root.pinned is not None
        old = root.pinned.advance()
        if old is None:
            return []
        logger.info("%s switched generation: %s -> %s", root.path, old, root.pinned.path)
        events, attempts = follow_switch(
            self.registry, root.path, Path(old), root.pinned.path, load_new=self.load_new
        )
        self.reload_count += attempts
        self._files.refresh(self._source_dirs())
        return events


def watched_dirs(dirs: Iterable[str | os.PathLike[str]] | None) -> list[Path]:
    """The directories to watch: ``dirs`` if given, else ``$DIOPTRA_PLUGIN_DIR``."""
    found = readable_plugin_dirs(None if dirs is None else [os.path.abspath(d) for d in dirs])
    if not found:
        raise PluginDirError(
            f"nothing to watch: give existing directories or set ${PLUGIN_DIR_VARIABLE}"
        )
    return found


@contextlib.contextmanager
def watch(
    dirs: Iterable[str | os.PathLike[str]] | None = None,
    *,
    registry: Registry | None = None,
    debounce: float = DEFAULT_DEBOUNCE,
    delete_grace: float = DELETE_GRACE,
    load_new: bool = False,
) -> Iterator[Watcher]:
    """Reload plugin modules under ``dirs`` into ``registry`` while the block runs.

    ``registry`` defaults to the one ``pyplugs``' module functions use; subscribe to it for
    reload events.  With ``load_new`` a new ``.py`` file in an imported package is loaded
    as soon as it appears (the CLI does this); otherwise only loaded modules are watched.  The
    watchdog observer and the reload thread stop when the block exits.
    """
    if registry is None:
        from dioptra_plugins.registry.registry import default_registry

        registry = default_registry()
    watcher = Watcher(
        watched_dirs(dirs),
        registry,
        debounce=debounce,
        delete_grace=delete_grace,
        load_new=load_new,
    )
    watcher.start()
    try:
        yield watcher
    finally:
        watcher.stop()
