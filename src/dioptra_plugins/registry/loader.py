"""Loading and reloading modules into a registry: one load-from-source step, and the
bookkeeping around it (installing, adopting, unregistering, reloading dependents).

A first load and a reload are the same step, :meth:`ModuleLoader.load_from_source`: find the
module's source afresh, execute it into a new module object and, only if that succeeded,
install it (``sys.modules``, its parent's attribute and the registry entry, swapped together).
They differ only in what the two failures mean: a module that is not there is an unknown plugin
on a first load and a deleted file (unregister it) on a reload; a module that fails is a
:class:`~dioptra_plugins.errors.PluginImportError` on a first load and, on a reload, an event
that keeps the last good version.
"""

from __future__ import annotations

import dataclasses
import importlib
import logging
import sys
import threading
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from dioptra_plugins.errors import LoadFailure, PluginImportError, UnknownPluginError
from dioptra_plugins.registry.lookup import (
    did_you_mean,
    import_package,
    located_error,
    package_contents,
    top,
)
from dioptra_plugins.registry.plugin_entries import ModuleEntry, diff, make_entry
from dioptra_plugins.registry.reload import (
    ModuleGone,
    ModuleLoadFailed,
    ReloadEvent,
    dependency_order,
    execute_source,
    find_fresh_spec,
    imports_of_file,
    is_source_spec,
    source_hash,
)

logger = logging.getLogger(__name__)

_EMPTY = source_hash(b"")


class ModuleLoader:
    """The modules a registry has loaded (``entries``) and why the last load of some failed.

    ``entries`` is read without a lock (a dict lookup is atomic, an entry immutable); every
    change happens under ``lock``.
    """

    def __init__(self) -> None:
        self.entries: dict[str, ModuleEntry] = {}
        self.errors: dict[str, LoadFailure] = {}
        self.lock = threading.RLock()
        self._import_cache: dict[tuple[str, int, int], frozenset[str]] = {}

    # --- the one step ----------------------------------------------------------------------------

    def load_from_source(
        self, name: str, *, first: bool, refuse_empty: bool = False
    ) -> ModuleEntry:
        """Execute ``name``'s current source into a new module and install it.

        Raises :class:`ModuleGone` when there is no such module (any more) and
        :class:`ModuleLoadFailed` with the located failure when it cannot be executed; in both
        cases nothing changed.  A module that is not Python source (an extension module) is
        imported the import system's way on a first load and refused on a reload.
        """
        try:
            spec = find_fresh_spec(name)
        except ModuleGone:
            raise
        except Exception as error:  # a parent package failed to import
            raise ModuleLoadFailed(located_error(error, "")) from error
        if spec is None:
            raise ModuleGone(name)
        if not is_source_spec(spec):
            if not first:
                raise ModuleLoadFailed(LoadFailure(spec.origin, None, "not a Python source module"))
            try:
                module = importlib.import_module(name)
            except Exception as error:
                raise ModuleLoadFailed(located_error(error, spec.origin or "")) from error
            entry = self.adopt(name, module)
            self.entries[name] = entry
            return entry
        executed = execute_source(name, spec, refuse_empty=refuse_empty)
        module = executed.module
        entry = make_entry(name, module, executed.file, executed.source_hash, executed.imports)
        self._install(name, module, entry)
        return entry

    def _install(self, name: str, module: ModuleType, entry: ModuleEntry) -> None:
        """The commit: make the new module what ``import`` and the registry both return."""
        old_module = sys.modules.get(name)
        if old_module is not None and getattr(module, "__path__", None) is not None:
            # A re-executed package keeps its already-imported submodules as attributes.
            for attribute, value in vars(old_module).items():
                if isinstance(value, ModuleType) and value.__name__ == f"{name}.{attribute}":
                    module.__dict__.setdefault(attribute, value)
        sys.modules[name] = module
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None:
            setattr(parent, child, module)
        self.entries[name] = entry
        self.errors.pop(name, None)

    # --- first loads -----------------------------------------------------------------------------

    def load(self, package: str, plugin: str, name: str) -> ModuleEntry:
        """The entry of module ``name`` (``package.plugin``), loading it on first use."""
        entry = self.entries.get(name)
        if entry is not None:
            return entry
        with self.lock:
            entry = self.entries.get(name)
            if entry is not None:
                return entry
            if package:
                import_package(package)
            existing = sys.modules.get(name)
            if existing is not None:  # imported by someone else first: adopt it as it is
                entry = self.entries[name] = self.adopt(name, existing)
            else:
                try:
                    entry = self.load_from_source(name, first=True)
                except ModuleGone:
                    known = package_contents(sys.modules[package])[0] if package else []
                    raise UnknownPluginError(
                        f"Plugin {plugin!r} not found"
                        + (f" in {package!r}" if package else "")
                        + did_you_mean(plugin, known)
                    ) from None
                except ModuleLoadFailed as failed:
                    self.errors[name] = failed.failure
                    raise PluginImportError(name, failed.failure) from failed.__cause__
            self._adopt_imports(entry)
            return entry

    def adopt(self, name: str, module: ModuleType) -> ModuleEntry:
        """An entry for a module imported outside the registry (hash of its file as it is now)."""
        file = getattr(module, "__file__", None)
        digest: str | None = None
        imports: frozenset[str] = frozenset()
        if isinstance(file, str) and file.endswith(".py"):
            try:
                digest = source_hash(Path(file).read_bytes())
            except OSError:
                digest = None
            imports = self._imports_of(name, module)
        return make_entry(name, module, file if isinstance(file, str) else None, digest, imports)

    def _adopt_imports(self, entry: ModuleEntry) -> None:
        # Helpers a plugin imports are watched for edits too; record the version they run now.
        for dep in entry.imports:
            module = sys.modules.get(dep)
            if module is not None and dep not in self.entries and top(dep) == top(entry.name):
                self.entries[dep] = self.adopt(dep, module)

    def adopt_loaded(self, directories: Iterable[Path]) -> list[str]:
        """Record the current version of every loaded module whose file is under ``directories``."""
        roots = [str(d).rstrip("/") + "/" for d in directories]
        adopted: list[str] = []
        with self.lock:
            for name, module in list(sys.modules.items()):
                file = getattr(module, "__file__", None)
                if name in self.entries or not isinstance(file, str):
                    continue
                if file.startswith(tuple(roots)):
                    self.entries[name] = self.adopt(name, module)
                    adopted.append(name)
        return adopted

    # --- reloads ---------------------------------------------------------------------------------

    def source_unchanged(self, name: str) -> bool:
        entry = self.entries.get(name)
        if entry is None or entry.source_hash is None:
            return False
        if name in self.errors:
            # The last reload failed: the last good source restored is a change to report.
            return False
        try:
            spec = find_fresh_spec(name)
        except Exception:
            return False  # let the reload report (or unregister) properly
        if spec is None or not is_source_spec(spec) or spec.origin is None:
            return False
        try:
            return source_hash(Path(spec.origin).read_bytes()) == entry.source_hash
        except OSError:
            return False

    def reload_cascade(self, name: str, *, hold_emptied: bool = False) -> list[ReloadEvent]:
        """Reload ``name``, then (if it worked) every module importing it, importees first.

        ``hold_emptied``: raise :class:`SourceEmptied` (nothing changed) when ``name``'s source
        is read empty where its loaded source was not."""
        events = [self._reload_one(name, hold_emptied=hold_emptied)]
        if events[0].error is not None:
            return events  # the dependents keep running against the old version
        graph = self._import_graph(name)
        failed: set[str] = set()
        for dependent in dependency_order(name, graph):
            if set(graph.get(dependent, ())) & failed:
                logger.info("not reloading %s: a module it imports failed to reload", dependent)
                failed.add(dependent)
                continue
            event = self._reload_one(dependent)
            events.append(event)
            if event.error is not None:
                failed.add(dependent)
        return events

    def _reload_one(self, name: str, *, hold_emptied: bool = False) -> ReloadEvent:
        had_failed = name in self.errors
        old = self.entries.get(name)
        if old is None and name in sys.modules:
            old = self.adopt(name, sys.modules[name])
        refuse_empty = hold_emptied and old is not None and old.source_hash not in (None, _EMPTY)
        try:
            new = self.load_from_source(name, first=False, refuse_empty=refuse_empty)
        except ModuleGone:
            return self._unregister(name, old)
        except ModuleLoadFailed as failed:
            self.errors[name] = failed.failure
            logger.warning(
                "reload of %s failed, keeping the last good version: %s", name, failed.failure
            )
            return ReloadEvent(name, error=failed.failure)
        event = diff(name, old, new)
        if had_failed:
            event = dataclasses.replace(event, recovered=True)
        logger.info(
            "reloaded %s (added %s, changed %s, removed %s)",
            name,
            list(event.added),
            list(event.changed),
            list(event.removed),
        )
        return event

    def unload_tree(self, name: str) -> ReloadEvent:
        """Unregister ``name`` and every loaded module below it: one event for a package
        that is gone whole (a sync removed it), listing every task it took with it."""
        below = {n for n in (*sys.modules, *self.entries) if n.startswith(f"{name}.")}
        removed: list[str] = []
        # Children first, so that no parent is re-imported to look a child up.
        for child in sorted(below, key=lambda n: (-n.count("."), n)):
            removed += self._unregister(child, self.entries.get(child)).removed
        event = self._unregister(name, self.entries.get(name))
        removed = [*event.removed, *removed]
        return ReloadEvent(name, removed=tuple(removed), unloaded=True)

    def _unregister(self, name: str, old: ModuleEntry | None) -> ReloadEvent:
        known = old is not None or name in sys.modules
        self.entries.pop(name, None)
        self.errors.pop(name, None)
        module = sys.modules.pop(name, None)
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None and module is not None and getattr(parent, child, None) is module:
            delattr(parent, child)
        if not known:
            return ReloadEvent(name, error=LoadFailure(None, None, f"no module named {name!r}"))
        removed = tuple(old.functions) if old is not None else ()
        logger.info("unloaded %s: its source is gone (removed %s)", name, list(removed))
        return ReloadEvent(name, removed=removed, unloaded=True)

    def _import_graph(self, root: str) -> dict[str, frozenset[str]]:
        """Imports of every loaded module in the plugin packages involved (root's and ours)."""
        tops = {top(root)} | {top(name) for name in self.entries}
        graph: dict[str, frozenset[str]] = {}
        for name, module in list(sys.modules.items()):
            if top(name) not in tops or name == root:
                continue
            entry = self.entries.get(name)
            graph[name] = entry.imports if entry is not None else self._imports_of(name, module)
        return graph

    def _imports_of(self, name: str, module: ModuleType) -> frozenset[str]:
        file = getattr(module, "__file__", None)
        if not isinstance(file, str) or not file.endswith(".py"):
            return frozenset()
        try:
            stat = Path(file).stat()
        except OSError:
            return frozenset()
        key = (file, stat.st_mtime_ns, stat.st_size)
        imports = self._import_cache.get(key)
        if imports is None:
            is_package = getattr(module, "__path__", None) is not None
            imports = imports_of_file(file, name, is_package)
            self._import_cache[key] = imports
        return imports
