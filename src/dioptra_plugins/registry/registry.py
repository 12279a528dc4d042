"""The plugin registry: finds ``@register``-marked functions, calls them, reloads their modules.

A :class:`Registry` is an instance (pluggy style; pyplugs' module functions use a default one).
It owns a :class:`~dioptra_plugins.registry.loader.ModuleLoader`, which keeps one immutable
:class:`~dioptra_plugins.registry.plugin_entries.ModuleEntry` per loaded module (the module
object, the hash of the source it ran, the modules it imports and its plugin functions) and
swaps entries whole, so a reader in another thread sees a module's old entry or its new one,
never a mix, and never a missing function while a reload is in flight. Writers serialise on the
loader's lock.


``register`` only marks a function; nothing is registered by the act of importing, so a module
that fails half-way registers nothing and a reload is a transaction.

The pyplugs API is Dioptra's (``call(package, plugin, func, *args)``) plus upstream pyplugs
0.5's: ``label`` selects among a module's functions (None: the unlabelled ones), ``labels()``
lists them, ``get_typed``/``call_typed`` take the expected return type for type checkers.  The
default function (``func=None``) is the first registered; ``names()`` orders plugins by their
default function's ``sort_value``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Callable, Iterable
from pathlib import Path
from types import ModuleType
from typing import Any, TypeVar

from dioptra_plugins.errors import (
    LoadFailure,
    PluginImportError,
    UnknownPackageError,
    UnknownPluginError,
    UnknownPluginFunctionError,
)
from dioptra_plugins.registry import workflows
from dioptra_plugins.registry.loader import ModuleLoader
from dioptra_plugins.registry.lookup import (
    did_you_mean,
    import_package,
    is_self_or_ancestor,
    module_name,
    package_contents,
)
from dioptra_plugins.registry.plugin_entries import ModuleEntry, PluginInfo
from dioptra_plugins.registry.reload import ReloadEvent

logger = logging.getLogger(__name__)

T = TypeVar("T")
Subscriber = Callable[[ReloadEvent], None]

__all__ = ["ModuleEntry", "PluginInfo", "Registry", "module_name"]


class Registry:
    """Finds, calls and reloads task plugins; pyplugs' module functions use a default one."""

    def __init__(self) -> None:
        self._loader = ModuleLoader()
        self._entries = self._loader.entries  # the same dict, read lock-free on the hot path
        self._subscribers: tuple[Subscriber, ...] = ()

    # --- pyplugs' API ----------------------------------------------------------------------------

    def names(self, package: str) -> list[str]:
        """Plugin modules of ``package`` (importing all of them), ordered by sort_value."""
        self.load_package(package)
        found = [
            entry
            for entry in list(self._entries.values())
            if entry.functions and entry.name.rpartition(".")[0] == package
        ]
        found.sort(key=lambda entry: (entry.sort_value, entry.name))
        return [entry.name.rpartition(".")[2] for entry in found]

    def funcs(self, package: str, plugin: str, label: str | None = None) -> list[str]:
        """Names of one module's plugin functions with ``label``, in registration order."""
        entry = self._plugin_entry(package, plugin)
        return [name for name, info in entry.functions.items() if info.label == label]

    def labels(self, package: str, plugin: str) -> set[str]:
        """The labels used by one module's plugin functions."""
        entry = self._plugin_entry(package, plugin)
        return {info.label for info in entry.functions.values() if info.label is not None}

    def info(
        self, package: str, plugin: str, func: str | None = None, label: str | None = None
    ) -> PluginInfo:
        """One function's :class:`PluginInfo` (``func=None``: the first registered with ``label``).

        As in pyplugs 0.5, a named function must carry ``label`` too.
        """
        entry = self._plugin_entry(package, plugin)
        if func is None:
            found = entry.default if label is None else entry.first(label)
        else:
            found = entry.functions.get(func)
            if found is not None and found.label != label:
                found = None
        if found is None:
            raise UnknownPluginFunctionError(
                package=package,
                plugin=plugin,
                func=func,
                label=label,
                known=sorted(entry.functions),
            )
        return found

    def exists(self, package: str, plugin: str) -> bool:
        """Whether ``package.plugin`` is a module registering at least one plugin function."""
        try:
            return bool(self._plugin_entry(package, plugin).functions)
        except (UnknownPluginError, UnknownPackageError):
            return False

    def get(
        self, package: str, plugin: str, func: str | None = None, label: str | None = None
    ) -> Callable[..., Any]:
        """The plugin function itself."""
        return self.info(package, plugin, func, label).func

    def get_typed(
        self,
        package: str,
        plugin: str,
        _return_type: T,
        func: str | None = None,
        label: str | None = None,
    ) -> Callable[..., T]:
        """:meth:`get`, typed as returning the type of ``_return_type`` (pyplugs 0.5)."""
        return self.info(package, plugin, func, label).func

    def call(
        self,
        package: str,
        plugin: str,
        func: str | None = None,
        *args: Any,
        label: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Call a plugin function; ``func=None`` calls the module's first registered."""
        # The hot path: one dict lookup for the module entry, one for the function.
        entry = self._entries.get(f"{package}.{plugin}" if package else plugin)
        if entry is not None and label is None:
            found = entry.default if func is None else entry.unlabelled.get(func)
            if found is not None:
                return found.func(*args, **kwargs)
        return self.info(package, plugin, func, label).func(*args, **kwargs)

    def call_typed(
        self,
        package: str,
        plugin: str,
        _return_type: T,
        func: str | None = None,
        *args: Any,
        label: str | None = None,
        **kwargs: Any,
    ) -> T:
        """:meth:`call`, typed as returning the type of ``_return_type`` (pyplugs 0.5)."""
        result: T = self.info(package, plugin, func, label).func(*args, **kwargs)
        return result

    def get_task(
        self, package: str, plugin: str, func: str | None = None, label: str | None = None
    ) -> Any:
        """The plugin as a task of the installed Prefect (1 or 3), with its ``@task_nout``."""
        workflows.require_prefect("get_task")
        info = self.info(package, plugin, func, label)
        return workflows.as_task(info.func, _task_name(info))

    def call_task(
        self,
        package: str,
        plugin: str,
        func: str | None = None,
        *args: Any,
        label: str | None = None,
        **kwargs: Any,
    ) -> Any:
        """Run a plugin as a step of a workflow.

        Inside ``with Flow(...)`` (Prefect 1) a task is added to the flow; inside a Prefect 3
        flow run a task is submitted and its future returned (``upstream_tasks`` become
        ``wait_for``); anywhere else the upstream objects are waited on and the plugin is
        called.  Needs Prefect installed, as Dioptra's did.
        """
        # Prefect first, then the lookup, as Dioptra's ``@require_package`` orders them: without
        # Prefect the answer is PrefectDependencyError whatever the plugin's state.
        workflows.require_prefect("call_task")
        info = self.info(package, plugin, func, label)
        return workflows.call_as_task(info.func, _task_name(info), args, kwargs)

    # --- beyond pyplugs: inspection --------------------------------------------------------------

    def plugins(self, package: str | None = None) -> list[PluginInfo]:
        """Every registered plugin function (of ``package`` and its subpackages, if given)."""
        found: list[PluginInfo] = []
        for entry in sorted(list(self._entries.values()), key=lambda e: e.name):
            if package is None or is_self_or_ancestor(package, entry.name):
                found.extend(entry.functions.values())
        return found

    def modules(self) -> list[str]:
        """Names of the modules this registry has loaded."""
        return sorted(self._entries)

    def entry(self, name: str) -> ModuleEntry | None:
        return self._entries.get(name)

    def error(self, name: str) -> LoadFailure | None:
        """Why the last (re)load of ``name`` failed, or None if its current version is good."""
        return self._loader.errors.get(name)

    def errors(self) -> dict[str, LoadFailure]:
        """Every module whose last (re)load failed, with the failure."""
        return dict(self._loader.errors)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` after every reload attempt; returns an unsubscribe function."""
        with self._loader.lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._loader.lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    # --- loading ---------------------------------------------------------------------------------

    def load(self, name: str) -> ModuleEntry:
        """Load module ``name`` (if not already) and return its entry."""
        package, _, plugin = name.rpartition(".")
        return self._plugin_entry(package, plugin, require_plugins=False)

    def load_package(self, package: str, *, recursive: bool = False) -> list[PluginImportError]:
        """Import every public module of ``package`` (and of every subpackage if ``recursive``).

        Subpackages include namespace folders (no ``__init__.py``).  As in pyplugs, one broken
        plugin does not hide the others: every import error is logged and returned, not raised
        (only ``package`` itself failing to import raises).
        """
        return self._load_contents(package, import_package(package), recursive, set())

    def _load_contents(
        self, package: str, imported: ModuleType, recursive: bool, seen: set[str]
    ) -> list[PluginImportError]:
        directories = {os.path.realpath(d) for d in getattr(imported, "__path__", [])}
        if directories and directories <= seen:  # a symlink back up the tree
            return []
        seen |= directories
        modules, subpackages = package_contents(imported)
        failures: list[PluginImportError] = []
        for plugin in modules:
            try:
                self._loader.load(package, plugin, module_name(package, plugin))
            except PluginImportError as error:
                logger.warning("%s", error)
                failures.append(error)
            except UnknownPluginError:  # vanished while we listed it
                continue
        for subpackage in subpackages if recursive else ():
            name = f"{package}.{subpackage}"
            try:
                sub_module = import_package(name)
            except PluginImportError as error:
                logger.warning("%s", error)
                failures.append(error)
                continue
            except UnknownPackageError:  # vanished, or a module shadows the folder
                continue
            failures.extend(self._load_contents(name, sub_module, True, seen))
        return failures

    def _plugin_entry(
        self, package: str, plugin: str, *, require_plugins: bool = True
    ) -> ModuleEntry:
        entry = self._loader.load(package, plugin, module_name(package, plugin))
        if require_plugins and not entry.functions:
            raise UnknownPluginError(
                f"Could not find any plug-in named {plugin!r} inside {package!r}. "
                "Use pyplugs.register to register functions as plug-ins"
                + did_you_mean(plugin, _module_names(package))
            )
        return entry

    def adopt_loaded(self, directories: Iterable[Path]) -> list[str]:
        """Record the current version of every loaded module whose file is under ``directories``.

        A watcher calls this when it starts, so that a later event on a module imported
        before it started can be compared against the version actually running.
        """
        return self._loader.adopt_loaded(directories)

    # --- reloading -------------------------------------------------------------------------------

    def reload(self, name: str) -> ReloadEvent:
        """Reload module ``name`` from its source, then the modules that import it.

        Returns the event for ``name``; subscribers get one event per module attempted.
        """
        with self._loader.lock:
            events = self._loader.reload_cascade(name)
        self._notify(events)
        return events[0]

    def reload_if_changed(self, name: str, *, hold_emptied: bool = False) -> ReloadEvent | None:
        """Like :meth:`reload`, but None (and nothing done) when the source hash is unchanged.

        ``hold_emptied`` (the watcher's): when the source is read empty where the loaded one
        was not, nothing is done and ``SourceEmptied`` is raised: most likely the first step
        of a save that truncates, then writes; the caller looks again a little later."""
        with self._loader.lock:
            if self._loader.source_unchanged(name):
                return None
            events = self._loader.reload_cascade(name, hold_emptied=hold_emptied)
        self._notify(events)
        return events[0]

    def unload(self, name: str) -> ReloadEvent:
        """Unregister module ``name`` and everything loaded below it (its source is gone)."""
        with self._loader.lock:
            event = self._loader.unload_tree(name)
        self._notify([event])
        return event

    def load_new_package(self, package: str) -> list[ReloadEvent]:
        """Load a top-level package that appeared while watching, recursively; subscribers
        get one event per module (its tasks added, or its import error)."""
        with self._loader.lock:
            try:
                failures = self.load_package(package, recursive=True)
            except PluginImportError as error:  # its own __init__ is broken
                failures = [error]
            events = [
                ReloadEvent(name, added=tuple(entry.functions))
                for name, entry in sorted(self._loader.entries.items())
                if (name == package or name.startswith(f"{package}.")) and entry.functions
            ]
        events += [ReloadEvent(failure.module, error=failure.failure) for failure in failures]
        self._notify(events)
        return events

    def _notify(self, events: Iterable[ReloadEvent]) -> None:
        subscribers = self._subscribers
        for event in events:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:
                    logger.exception("reload subscriber %r failed", callback)


def _task_name(info: PluginInfo) -> str:
    return f"{module_name(info.package_name, info.plugin_name)}.{info.func_name}"


def _module_names(package: str) -> list[str]:
    """The plugin modules a package has, by file name (nothing imported beyond the package)."""
    if not package:
        return []
    try:
        modules, _subpackages = package_contents(import_package(package))
    except Exception:  # a hint for an error message: never a second error
        return []
    return modules


# pyplugs' module functions are this registry's bound methods; watch() reloads it when given none.
_default = Registry()


def default_registry() -> Registry:
    """The registry pyplugs' module functions use."""
    return _default
