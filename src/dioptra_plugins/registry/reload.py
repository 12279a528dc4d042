"""One module's reload transaction, minus the bookkeeping: find, read, compile, execute.

A reload must never half-apply, so every step that can fail runs *before* anything visible
changes: the source is found afresh (a file may have moved, vanished or been replaced), read
as bytes, parsed and compiled from those bytes (never from a ``.pyc``, whose mtime+size check
cannot see a same-second, same-size edit), and executed into a brand-new module object that
nobody else can see yet.  :mod:`~dioptra_plugins.registry.loader` then swaps it in, or records the
:class:`~dioptra_plugins.errors.LoadFailure` and keeps the last good version.
"""

from __future__ import annotations

import ast
import importlib
import importlib.machinery
import importlib.util
import sys
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import ModuleType
from typing import Any

from dioptra_plugins.errors import LoadFailure
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.registry.lookup import is_self_or_ancestor, located_error, syntax_error


@dataclass(frozen=True)
class ReloadEvent:
    """The outcome of one reload attempt, as delivered to subscribers.

    ``added``/``changed``/``removed`` name plugin functions; ``error`` is None on success (the
    new version is live) or says why the old version was kept.
    """

    module: str
    added: tuple[str, ...] = ()
    changed: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    error: LoadFailure | None = None
    unloaded: bool = False  # the module's file is gone and it was unregistered
    recovered: bool = False  # the module had failed to reload and now loaded again

    @property
    def ok(self) -> bool:
        return self.error is None

    def to_dict(self) -> dict[str, Any]:
        return {
            "module": self.module,
            "added": list(self.added),
            "changed": list(self.changed),
            "removed": list(self.removed),
            "unloaded": self.unloaded,
            "recovered": self.recovered,
            "error": None if self.error is None else self.error.to_dict(),
        }


class ModuleLoadFailed(Exception):
    """Internal: executing a module's new source failed; carries the located error."""

    def __init__(self, failure: LoadFailure) -> None:
        super().__init__(str(failure))
        self.failure = failure


class ModuleGone(Exception):
    """Internal: the module (or a parent package) no longer exists on the import path."""


class SourceEmptied(Exception):
    """Internal: asked to, a reload refused a module's source that it read empty (a save that
    truncates, then writes, read between the two); nothing changed."""


@dataclass(frozen=True)
class ExecutedModule:
    """A freshly executed module that is not installed anywhere yet."""

    module: ModuleType
    file: str
    source_hash: str
    imports: frozenset[str] = field(default_factory=frozenset)


def source_hash(data: bytes) -> str:
    return sha256_hex(data)


def is_source_spec(spec: importlib.machinery.ModuleSpec) -> bool:
    """True for modules backed by a ``.py`` file we can read and compile ourselves."""
    return (
        spec.origin is not None
        and spec.has_location
        and isinstance(spec.loader, importlib.machinery.SourceFileLoader)
    )


def find_fresh_spec(name: str) -> importlib.machinery.ModuleSpec | None:
    """Locate ``name`` on disk now, ignoring whatever ``sys.modules`` holds for it.

    ``importlib.util.find_spec`` returns the cached ``__spec__`` of an imported module, which
    is exactly what a reload must not trust.  We ask the meta path finders directly, after
    invalidating the directory-listing caches of the path entries involved (they are keyed on
    directory mtime, which can miss a same-second rename).
    """
    parent_name = name.rpartition(".")[0]
    search_path: list[str] | None = None
    if parent_name:
        parent = sys.modules.get(parent_name)
        if parent is None:
            try:
                parent = importlib.import_module(parent_name)
            except ModuleNotFoundError as error:
                if error.name is not None and is_self_or_ancestor(error.name, parent_name):
                    raise ModuleGone(parent_name) from None
                raise
        path_attr = getattr(parent, "__path__", None)
        if path_attr is None:
            raise ModuleGone(parent_name)
        search_path = list(path_attr)
    for entry in search_path if search_path is not None else sys.path:
        entry_finder = sys.path_importer_cache.get(entry)
        if entry_finder is not None and hasattr(entry_finder, "invalidate_caches"):
            entry_finder.invalidate_caches()
    for finder in sys.meta_path:
        find_spec = getattr(finder, "find_spec", None)
        if find_spec is None:
            continue
        spec = find_spec(name, search_path)
        if spec is not None:
            return spec  # type: ignore[no-any-return]
    return None


def execute_source(
    name: str, spec: importlib.machinery.ModuleSpec, *, refuse_empty: bool = False
) -> ExecutedModule:
    """Read, compile and run ``spec``'s source into a new module object (not installed).

    Raises :class:`ModuleGone` when the file vanished under us, :class:`SourceEmptied` when
    ``refuse_empty`` and the bytes read are none (checked on the very bytes that would run: a
    check before the read could be overtaken by a truncation), and :class:`ModuleLoadFailed`
    (with file and line) for anything the source itself did wrong.
    """
    assert spec.origin is not None
    path = spec.origin
    try:
        data = Path(path).read_bytes()
    except FileNotFoundError:
        raise ModuleGone(name) from None
    except OSError as error:
        raise ModuleLoadFailed(LoadFailure(path, None, f"cannot read: {error}")) from error
    if refuse_empty and not data:
        raise SourceEmptied(name)
    try:
        tree = ast.parse(data, filename=path)
        code = compile(tree, path, "exec", dont_inherit=True)
    except SyntaxError as error:
        raise ModuleLoadFailed(syntax_error(error, path)) from error
    except ValueError as error:  # e.g. null bytes in the source
        raise ModuleLoadFailed(
            LoadFailure(path, None, f"{type(error).__name__}: {error}")
        ) from error
    module = importlib.util.module_from_spec(spec)
    try:
        # Running plugin code is the whole point of a reload; the module stays invisible
        # (not in sys.modules) until the registry decides to install it.
        exec(code, module.__dict__)  # noqa: S102
    except BaseException as error:
        if isinstance(error, KeyboardInterrupt | SystemExit):
            raise
        raise ModuleLoadFailed(located_error(error, path)) from error
    package = name if spec.submodule_search_locations is not None else name.rpartition(".")[0]
    return ExecutedModule(module, path, source_hash(data), imported_names(tree, package))


def imported_names(tree: ast.AST, package: str) -> frozenset[str]:
    """Every module name an ``import`` statement in ``tree`` may bind (relative ones resolved).

    ``from pkg import helper`` yields both ``pkg`` and ``pkg.helper``: the syntax does not say
    whether ``helper`` is a module, and a name that is not a module simply matches nothing.
    """
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = "." * node.level + (node.module or "")
            try:
                resolved = importlib.util.resolve_name(base, package) if node.level else base
            except ImportError:
                continue
            names.add(resolved)
            names.update(f"{resolved}.{alias.name}" for alias in node.names if alias.name != "*")
    return frozenset(names)


def imports_of_file(path: str, name: str, is_package: bool) -> frozenset[str]:
    """The import names of a module's source file; empty if it cannot be read or parsed."""
    try:
        tree = ast.parse(Path(path).read_bytes(), filename=path)
    except (OSError, SyntaxError, ValueError):
        return frozenset()
    return imported_names(tree, name if is_package else name.rpartition(".")[0])


def dependency_order(root: str, imports: Mapping[str, Iterable[str]]) -> list[str]:
    """Modules that (transitively) import ``root``, each after everything it imports.

    ``imports`` maps a module name to the module names it imports.  Cycles are broken by name
    order so that every dependent still appears exactly once.
    """
    importers: dict[str, set[str]] = {}
    for module, deps in imports.items():
        for dep in deps:
            importers.setdefault(dep, set()).add(module)
    dependents: set[str] = set()
    frontier = [root]
    while frontier:
        for importer in importers.get(frontier.pop(), ()):
            if importer != root and importer not in dependents:
                dependents.add(importer)
                frontier.append(importer)
    ordered: list[str] = []
    done = {root}
    remaining = set(dependents)
    while remaining:
        ready = sorted(m for m in remaining if not (set(imports.get(m, ())) & remaining - {m}))
        if not ready:  # an import cycle among dependents: take the alphabetically first
            ready = [min(remaining)]
        for module in ready:
            ordered.append(module)
            done.add(module)
            remaining.discard(module)
    return ordered
