"""The plugin registry: finds ``@register``-marked functions, calls them, reloads their modules.

A :class:`Registry` owns one :class:`ModuleEntry` per module it has loaded: the module object,
the hash of the source it ran, the modules it imports and its plugin functions.  Entries are
immutable and swapped whole (one dict assignment under the GIL), so a reader in another thread
sees a module's old entry or its new one, never a mix, and never a missing function while a
reload is in flight.  Writers (first loads, reloads) serialise on one lock.

Registration is pluggy-style: ``@register`` only marks a function; the registry collects the
marked functions defined in a module (``func.__module__ == module.__name__``) by scanning its
namespace after executing it.  That is what makes reloads transactional: nothing is registered
by the act of importing, so a module that fails half-way registers nothing.
"""

from __future__ import annotations

import importlib
import logging
import math
import sys
import textwrap
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from types import CodeType, MappingProxyType, ModuleType
from typing import Any, NamedTuple

from dioptra_plugins.errors import (
    PluginImportError,
    UnknownPackageError,
    UnknownPluginError,
    UnknownPluginFunctionError,
)
from dioptra_plugins.marks import plugin_mark
from dioptra_plugins.reload import (
    ExecutedModule,
    ModuleGone,
    ModuleLoadFailed,
    ReloadError,
    ReloadEvent,
    dependency_order,
    execute_source,
    find_fresh_spec,
    imports_of_file,
    is_source_spec,
    located_error,
    source_hash,
)

logger = logging.getLogger(__name__)

Subscriber = Callable[[ReloadEvent], None]


class PluginInfo(NamedTuple):
    """Information about one plugin function (the fields of Dioptra's ``pyplugs.PluginInfo``)."""

    package_name: str
    plugin_name: str
    func_name: str
    func: Callable[..., Any]
    description: str
    doc: str
    module_doc: str
    sort_value: float


@dataclass(frozen=True)
class ModuleEntry:
    """One loaded module as the registry knows it; replaced whole, never mutated."""

    name: str
    module: ModuleType
    file: str | None
    source_hash: str | None
    imports: frozenset[str]
    functions: Mapping[str, PluginInfo]  # in definition order
    default: PluginInfo | None  # what func=None means: lowest sort_value, then first defined


def collect_plugins(module: ModuleType) -> dict[str, PluginInfo]:
    """The marked functions *defined* in ``module`` (imported ones belong to their own module)."""
    name = module.__name__
    package_name, _, plugin_name = name.rpartition(".")
    module_doc = module.__doc__ or ""
    found: dict[int, tuple[float, Callable[..., Any], float]] = {}
    for obj in list(vars(module).values()):
        mark = plugin_mark(obj)
        if mark is None or getattr(obj, "__module__", None) != name or not callable(obj):
            continue
        code = getattr(obj, "__code__", None)
        line = float(code.co_firstlineno) if code is not None else math.inf
        found.setdefault(id(obj), (line, obj, mark.sort_value))
    plugins: dict[str, PluginInfo] = {}
    for _, func, sort_value in sorted(found.values(), key=lambda item: item[0]):
        func_name = str(getattr(func, "__name__", ""))
        # Same split as Dioptra's pyplugs: first paragraph, then the dedented rest.
        description, _, doc = (func.__doc__ or "").partition("\n\n")
        plugins.setdefault(
            func_name,
            PluginInfo(
                package_name=package_name,
                plugin_name=plugin_name,
                func_name=func_name,
                func=func,
                description=description,
                doc=textwrap.dedent(doc).strip(),
                module_doc=module_doc,
                sort_value=sort_value,
            ),
        )
    return plugins


def _make_entry(
    name: str,
    module: ModuleType,
    file: str | None,
    digest: str | None,
    imports: frozenset[str],
) -> ModuleEntry:
    functions = collect_plugins(module)
    default = min(functions.values(), key=lambda info: info.sort_value, default=None)
    return ModuleEntry(name, module, file, digest, imports, MappingProxyType(functions), default)


def module_name(package: str, plugin: str) -> str:
    # A plugin without a package is registered under package "" (as in Dioptra's pyplugs).
    return f"{package}.{plugin}" if package else plugin


def _top(name: str) -> str:
    return name.partition(".")[0]


def _is_self_or_ancestor(candidate: str, name: str) -> bool:
    return name == candidate or name.startswith(candidate + ".")


class Registry:
    """Finds, calls and reloads task plugins; pyplugs' module functions use a default one."""

    def __init__(self) -> None:
        self._entries: dict[str, ModuleEntry] = {}
        self._errors: dict[str, ReloadError] = {}
        self._subscribers: tuple[Subscriber, ...] = ()
        self._lock = threading.RLock()
        self._import_cache: dict[tuple[str, int, int], frozenset[str]] = {}

    # --- Dioptra's pyplugs API -------------------------------------------------------------------

    def names(self, package: str) -> list[str]:
        """Plugin modules of ``package`` (importing all of them), ordered by sort_value."""
        self.load_package(package)
        prefix = f"{package}." if package else ""
        found = [
            entry.name[len(prefix) :]
            for entry in list(self._entries.values())
            if entry.functions and entry.name.rpartition(".")[0] == package
        ]
        return sorted(found, key=lambda plugin: self.info(package, plugin).sort_value)

    def funcs(self, package: str, plugin: str) -> list[str]:
        """Names of the plugin functions in one plugin module, in definition order."""
        return list(self._plugin_entry(package, plugin).functions)

    def info(self, package: str, plugin: str, func: str | None = None) -> PluginInfo:
        """The :class:`PluginInfo` of one function (``func=None``: the module's first)."""
        entry = self._plugin_entry(package, plugin)
        found = entry.default if func is None else entry.functions.get(func)
        if found is None:
            raise UnknownPluginFunctionError(
                f"Could not find any function named {func!r} inside "
                f"{module_name(package, plugin)!r}. Use pyplugs.register to register plug-in "
                "functions"
            )
        return found

    def exists(self, package: str, plugin: str) -> bool:
        """Whether ``package.plugin`` is a module registering at least one plugin function."""
        try:
            return bool(self._plugin_entry(package, plugin).functions)
        except (UnknownPluginError, UnknownPackageError):
            return False

    def get(self, package: str, plugin: str, func: str | None = None) -> Callable[..., Any]:
        """The plugin function itself."""
        return self.info(package, plugin, func).func

    def call(
        self, package: str, plugin: str, func: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        """Call a plugin function; ``func=None`` calls the module's first."""
        # The hot path: one dict lookup for the module entry, one for the function.
        entry = self._entries.get(f"{package}.{plugin}" if package else plugin)
        if entry is not None:
            found = entry.default if func is None else entry.functions.get(func)
            if found is not None:
                return found.func(*args, **kwargs)
        return self.info(package, plugin, func).func(*args, **kwargs)

    def get_task(self, package: str, plugin: str, func: str | None = None) -> Any:
        """The plugin wrapped as a Prefect task (needs the ``prefect`` extra)."""
        from dioptra_plugins.prefect_support import as_task

        info = self.info(package, plugin, func)
        return as_task(info.func, f"{module_name(package, plugin)}.{info.func_name}")

    def call_task(
        self, package: str, plugin: str, func: str | None = None, *args: Any, **kwargs: Any
    ) -> Any:
        """Run a plugin as a step of a workflow.

        Inside a Prefect 3 flow run the plugin is submitted as a Prefect task, with
        ``upstream_tasks`` as its ``wait_for``, and the future is returned.  Anywhere else the
        upstream objects are waited on (``.result()`` or ``.wait()``) and the plugin is called.
        """
        from dioptra_plugins import prefect_support

        upstream = list(kwargs.pop("upstream_tasks", None) or ())
        info = self.info(package, plugin, func)
        if prefect_support.flow_run_active():
            name = f"{module_name(package, plugin)}.{info.func_name}"
            return prefect_support.submit(info.func, name, args, kwargs, upstream)
        prefect_support.wait_for_upstream(upstream)
        return info.func(*args, **kwargs)

    # --- beyond pyplugs: inspection --------------------------------------------------------------

    def plugins(self, package: str | None = None) -> list[PluginInfo]:
        """Every registered plugin function (of ``package`` and its subpackages, if given)."""
        found: list[PluginInfo] = []
        for entry in sorted(list(self._entries.values()), key=lambda e: e.name):
            if package is None or _is_self_or_ancestor(package, entry.name):
                found.extend(entry.functions.values())
        return found

    def modules(self) -> list[str]:
        """Names of the modules this registry has loaded."""
        return sorted(self._entries)

    def entry(self, name: str) -> ModuleEntry | None:
        return self._entries.get(name)

    def error(self, name: str) -> ReloadError | None:
        """Why the last (re)load of ``name`` failed, or None if its current version is good."""
        return self._errors.get(name)

    def errors(self) -> dict[str, ReloadError]:
        """Every module whose last (re)load failed, with the error."""
        return dict(self._errors)

    def subscribe(self, callback: Subscriber) -> Callable[[], None]:
        """Call ``callback(event)`` after every reload attempt; returns an unsubscribe function."""
        with self._lock:
            self._subscribers = (*self._subscribers, callback)

        def unsubscribe() -> None:
            with self._lock:
                self._subscribers = tuple(s for s in self._subscribers if s is not callback)

        return unsubscribe

    # --- loading ---------------------------------------------------------------------------------

    def load(self, name: str) -> ModuleEntry:
        """Load module ``name`` (if not already) and return its entry."""
        package, _, plugin = name.rpartition(".")
        return self._plugin_entry(package, plugin, require_plugins=False)

    def load_package(self, package: str, *, recursive: bool = False) -> list[PluginImportError]:
        """Import every public module of ``package`` (and subpackages if ``recursive``).

        As in Dioptra's pyplugs, one broken plugin does not hide the others: their import
        errors are logged and returned rather than raised.
        """
        package_module = self._import_package(package)
        failures: list[PluginImportError] = []
        for directory in list(getattr(package_module, "__path__", [])):
            for path in sorted(Path(directory).iterdir()):
                if path.name.startswith(("_", ".")):
                    continue
                if path.suffix == ".py" and path.is_file():
                    try:
                        self._plugin_entry(package, path.stem, require_plugins=False)
                    except PluginImportError as error:
                        logger.warning("%s", error)
                        failures.append(error)
                    except UnknownPluginError:  # vanished while we listed it
                        continue
                elif recursive and (path / "__init__.py").is_file() and path.name.isidentifier():
                    try:
                        failures.extend(self.load_package(f"{package}.{path.name}", recursive=True))
                    except PluginImportError as error:
                        logger.warning("%s", error)
                        failures.append(error)
        return failures

    def _plugin_entry(
        self, package: str, plugin: str, *, require_plugins: bool = True
    ) -> ModuleEntry:
        name = module_name(package, plugin)
        entry = self._entries.get(name)
        if entry is None:
            with self._lock:
                entry = self._entries.get(name)
                if entry is None:
                    if package:
                        self._import_package(package)
                    entry = self._first_load(name, package, plugin)
        if require_plugins and not entry.functions:
            raise UnknownPluginError(
                f"Could not find any plug-in named {plugin!r} inside {package!r}. "
                "Use pyplugs.register to register functions as plug-ins"
            )
        return entry

    def _import_package(self, package: str) -> ModuleType:
        """Import a plugin package, telling "does not exist" from "exists but is broken"."""
        try:
            module = importlib.import_module(package)
        except ModuleNotFoundError as error:
            # Decided by *which* module is missing, not by the message: the package itself (or
            # a parent of it) means unknown package; anything else is the package's own bug.
            if error.name is not None and _is_self_or_ancestor(error.name, package):
                raise UnknownPackageError(f"Package {package!r} does not exist") from None
            raise self._import_error(package, error) from error
        except Exception as error:
            raise self._import_error(package, error) from error
        if getattr(module, "__path__", None) is None:
            raise UnknownPackageError(f"{package!r} is a module, not a package")
        return module

    def _import_error(self, name: str, error: BaseException) -> PluginImportError:
        where = located_error(error, getattr(sys.modules.get(name), "__file__", None) or "")
        return PluginImportError(name, where.file, where.line, where.message)

    def _first_load(self, name: str, package: str, plugin: str) -> ModuleEntry:
        unknown = UnknownPluginError(
            f"Plugin {plugin!r} not found" + (f" in {package!r}" if package else "")
        )
        existing = sys.modules.get(name)
        if existing is not None:  # imported by someone else first: adopt it as it is
            entry = self._adopt(name, existing)
        else:
            try:
                spec = find_fresh_spec(name)
            except ModuleGone:
                raise unknown from None
            except Exception as error:
                raise self._import_error(name, error) from error
            if spec is None:
                raise unknown
            if is_source_spec(spec):
                try:
                    executed = execute_source(name, spec)
                except ModuleGone:
                    raise unknown from None
                except ModuleLoadFailed as failed:
                    self._errors[name] = located = failed.error
                    raise PluginImportError(
                        name, located.file, located.line, located.message
                    ) from failed.__cause__
                entry = self._install(name, executed)
            else:  # an extension module or similar: the import system's way is the only way
                try:
                    module = importlib.import_module(name)
                except Exception as error:
                    raise self._import_error(name, error) from error
                entry = self._adopt(name, module)
        self._entries[name] = entry
        self._adopt_imports(entry)
        return entry

    def _adopt(self, name: str, module: ModuleType) -> ModuleEntry:
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
        return _make_entry(name, module, file if isinstance(file, str) else None, digest, imports)

    def _adopt_imports(self, entry: ModuleEntry) -> None:
        # Helpers a plugin imports are watched for edits too; record the version they run now.
        for dep in entry.imports:
            module = sys.modules.get(dep)
            if module is not None and dep not in self._entries and _top(dep) == _top(entry.name):
                self._entries[dep] = self._adopt(dep, module)

    def adopt_loaded(self, directories: Iterable[Path]) -> list[str]:
        """Record the current version of every loaded module whose file is under ``directories``.

        A watcher calls this when it starts, so that a later event on a module imported
        before it started can be compared against the version actually running.
        """
        roots = [str(d) for d in directories]
        adopted: list[str] = []
        with self._lock:
            for name, module in list(sys.modules.items()):
                file = getattr(module, "__file__", None)
                if name in self._entries or not isinstance(file, str):
                    continue
                if any(file.startswith(root.rstrip("/") + "/") for root in roots):
                    self._entries[name] = self._adopt(name, module)
                    adopted.append(name)
        return adopted

    # --- reloading -------------------------------------------------------------------------------

    def reload(self, name: str) -> ReloadEvent:
        """Reload module ``name`` from its source, then the modules that import it.

        Returns the event for ``name``; subscribers get one event per module attempted.
        """
        with self._lock:
            events = self._reload_cascade(name)
        self._notify(events)
        return events[0]

    def reload_if_changed(self, name: str) -> ReloadEvent | None:
        """Like :meth:`reload`, but None (and nothing done) when the source hash is unchanged."""
        with self._lock:
            if self._source_unchanged(name):
                return None
            events = self._reload_cascade(name)
        self._notify(events)
        return events[0]

    def unload(self, name: str) -> ReloadEvent:
        """Forget module ``name``: unregister its plugins and drop it from ``sys.modules``."""
        with self._lock:
            event = self._unregister(name, self._entries.get(name))
        self._notify([event])
        return event

    def _source_unchanged(self, name: str) -> bool:
        entry = self._entries.get(name)
        if entry is None or entry.source_hash is None:
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

    def _reload_cascade(self, name: str) -> list[ReloadEvent]:
        events = [self._reload_one(name)]
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

    def _reload_one(self, name: str) -> ReloadEvent:
        old = self._entries.get(name)
        if old is None and name in sys.modules:
            old = self._adopt(name, sys.modules[name])
        try:
            spec = find_fresh_spec(name)
            if spec is None:
                raise ModuleGone(name)
            if not is_source_spec(spec):
                return self._failed(
                    name, ReloadError(spec.origin, None, "not a Python source module")
                )
            executed = execute_source(name, spec)
        except ModuleGone:
            return self._unregister(name, old)
        except ModuleLoadFailed as failed:
            return self._failed(name, failed.error)
        except Exception as error:  # a parent package failed to import
            return self._failed(name, located_error(error, ""))
        new = self._install(name, executed)
        event = _diff(name, old, new)
        logger.info(
            "reloaded %s (added %s, changed %s, removed %s)",
            name,
            list(event.added),
            list(event.changed),
            list(event.removed),
        )
        return event

    def _failed(self, name: str, error: ReloadError) -> ReloadEvent:
        self._errors[name] = error
        logger.warning("reload of %s failed, keeping the last good version: %s", name, error)
        return ReloadEvent(name, error=error)

    def _install(self, name: str, executed: ExecutedModule) -> ModuleEntry:
        """The commit: make the new module what ``import`` and the registry both return."""
        module = executed.module
        entry = _make_entry(name, module, executed.file, executed.source_hash, executed.imports)
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
        self._entries[name] = entry
        self._errors.pop(name, None)
        return entry

    def _unregister(self, name: str, old: ModuleEntry | None) -> ReloadEvent:
        known = old is not None or name in sys.modules
        self._entries.pop(name, None)
        self._errors.pop(name, None)
        module = sys.modules.pop(name, None)
        parent_name, _, child = name.rpartition(".")
        parent = sys.modules.get(parent_name) if parent_name else None
        if parent is not None and module is not None and getattr(parent, child, None) is module:
            delattr(parent, child)
        if not known:
            return ReloadEvent(name, error=ReloadError(None, None, f"no module named {name!r}"))
        removed = tuple(old.functions) if old is not None else ()
        logger.info("unloaded %s: its source is gone (removed %s)", name, list(removed))
        return ReloadEvent(name, removed=removed, unloaded=True)

    def _import_graph(self, root: str) -> dict[str, frozenset[str]]:
        """Imports of every loaded module in the plugin packages involved (root's and ours)."""
        tops = {_top(root)} | {_top(name) for name in self._entries}
        graph: dict[str, frozenset[str]] = {}
        for name, module in list(sys.modules.items()):
            if _top(name) not in tops or name == root:
                continue
            entry = self._entries.get(name)
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

    def _notify(self, events: Iterable[ReloadEvent]) -> None:
        subscribers = self._subscribers
        for event in events:
            for callback in subscribers:
                try:
                    callback(event)
                except Exception:
                    logger.exception("reload subscriber %r failed", callback)


def _code_key(code: Any) -> Any:
    """What a function's code *does*, ignoring where it sits in the file (line numbers)."""
    if not isinstance(code, CodeType):
        return code
    return (
        code.co_code,
        tuple(_code_key(const) for const in code.co_consts),
        code.co_names,
        code.co_varnames,
        code.co_argcount,
        code.co_kwonlyargcount,
        code.co_flags,
    )


def _fingerprint(info: PluginInfo) -> tuple[Any, ...]:
    func = info.func
    return (
        _code_key(getattr(func, "__code__", None)),
        getattr(func, "__defaults__", None),
        getattr(func, "__kwdefaults__", None),
        info.sort_value,
        func.__doc__,
    )


def _diff(name: str, old: ModuleEntry | None, new: ModuleEntry) -> ReloadEvent:
    before = old.functions if old is not None else {}
    after = new.functions
    return ReloadEvent(
        name,
        added=tuple(f for f in after if f not in before),
        changed=tuple(
            f for f in after if f in before and _fingerprint(before[f]) != _fingerprint(after[f])
        ),
        removed=tuple(f for f in before if f not in after),
    )
