"""Names and the import machinery: which module a plugin is, which modules a package has, and
why an import failed, decided from *which* module is missing rather than from message text.

``UnknownPackageError`` means the package (or a parent of it) is not on the import path;
anything else that goes wrong while importing is the plugin's own bug, a
:class:`~dioptra_plugins.errors.PluginImportError` with the file and line it happened at.
"""

from __future__ import annotations

import difflib
import importlib
import os
import sys
import traceback
from collections.abc import Iterable
from pathlib import Path
from types import ModuleType

from dioptra_plugins.errors import LoadFailure, PluginImportError, UnknownPackageError


def module_name(package: str, plugin: str) -> str:
    # A plugin without a package is registered under package "" (as in Dioptra's pyplugs).
    return f"{package}.{plugin}" if package else plugin


def top(name: str) -> str:
    return name.partition(".")[0]


def is_self_or_ancestor(candidate: str, name: str) -> bool:
    return name == candidate or name.startswith(candidate + ".")


def syntax_error(error: SyntaxError, path: str) -> LoadFailure:
    return LoadFailure(error.filename or path, error.lineno, f"SyntaxError: {error.msg}")


def located_error(error: BaseException, path: str) -> LoadFailure:
    """File and line of ``error``: the deepest frame in the module's own file, else the last."""
    if isinstance(error, SyntaxError):  # raised by something the module imported
        return syntax_error(error, path)
    # importlib's own frames ("<frozen importlib._bootstrap>") say nothing about the plugin.
    frames = [
        f for f in traceback.extract_tb(error.__traceback__) if not f.filename.startswith("<")
    ]
    own = [frame for frame in frames if frame.filename == path]
    message = f"{type(error).__name__}: {error}"
    if not (own or frames):
        return LoadFailure(path or None, None, message)
    frame = (own or frames)[-1]
    return LoadFailure(frame.filename, frame.lineno, message)


def import_error(name: str, error: BaseException) -> PluginImportError:
    """The :class:`PluginImportError` for ``error``, located in ``name``'s file if it ran."""
    failure = located_error(error, getattr(sys.modules.get(name), "__file__", None) or "")
    return PluginImportError(name, failure)


def import_package(package: str) -> ModuleType:
    """Import a plugin package, telling "does not exist" from "exists but is broken"."""
    try:
        module = importlib.import_module(package)
    except ModuleNotFoundError as error:
        # The package itself (or a parent of it) missing means unknown package; any other
        # missing module is the package's own bug.
        if error.name is not None and is_self_or_ancestor(error.name, package):
            raise UnknownPackageError(f"Package {package!r} does not exist") from None
        raise import_error(package, error) from error
    except Exception as error:
        raise import_error(package, error) from error
    if getattr(module, "__path__", None) is None:
        raise UnknownPackageError(f"{package!r} is a module, not a package")
    return module


def package_contents(package: ModuleType) -> tuple[list[str], list[str]]:
    """The public plugin modules and the subpackages of an imported package, by name.

    Every portion of the package's ``__path__`` counts (a namespace package may have several),
    and a subfolder is a subpackage with or without ``__init__.py`` (PEP 420 namespace
    folders, as Dioptra's ``task-plugins`` are).  Names starting with ``_`` or ``.`` are not
    plugins, as in pyplugs.
    """
    modules: list[str] = []
    subpackages: list[str] = []
    for directory in list(getattr(package, "__path__", [])):
        try:
            children = sorted(Path(directory).iterdir())
        except OSError:
            continue
        for path in children:
            name = path.stem if path.suffix == ".py" else path.name
            if name.startswith(("_", ".")) or not name.isidentifier():
                continue
            if path.suffix == ".py" and path.is_file():
                if name not in modules:
                    modules.append(name)
            elif path.is_dir() and name not in subpackages and may_hold_python(path):
                subpackages.append(name)
    return modules, subpackages


def may_hold_python(directory: Path) -> bool:
    """A regular package, or a namespace folder with Python source somewhere below it.

    Symlinked folders are followed (a synced generation links each portion of a namespace into
    one folder), each real folder once.
    """
    if (directory / "__init__.py").is_file():
        return True
    pending, seen = [directory], set()
    while pending:
        current = pending.pop()
        real = os.path.realpath(current)
        if real in seen:
            continue
        seen.add(real)
        try:
            children = list(current.iterdir())
        except OSError:
            continue
        for child in children:
            if child.suffix == ".py" and child.is_file():
                return True
            if child.is_dir() and child.name.isidentifier() and not child.name.startswith("_"):
                pending.append(child)
    return False


def did_you_mean(wanted: str | None, known: Iterable[str]) -> str:
    """`` (did you mean 'resize'?)`` when a known name is close to ``wanted``; else nothing.

    ``wanted`` itself is never suggested: when it is among ``known`` (a module that exists but
    registers no plugin, a function registered under another label) it was found and is not
    what the caller needs, and "did you mean 'x'" for a lookup of 'x' only misleads.
    """
    if not wanted:
        return ""
    others = [name for name in known if name != wanted]
    close = difflib.get_close_matches(wanted, others, n=3, cutoff=0.6)
    if not close:
        return ""
    return " (did you mean " + " or ".join(repr(name) for name in close) + "?)"
