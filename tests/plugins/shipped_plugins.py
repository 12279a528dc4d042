"""The shipped plugin packages as imported from source, for tests that inspect them as a whole.

Importing this module imports every plugin module. It must happen while tests are collected:
afterwards conftest takes the source dirs off ``sys.path``.
"""

from __future__ import annotations

import importlib
import inspect
import pkgutil
from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType
from typing import Any

import dioptra_builtins
import dioptra_examples

from dioptra_plugins.pyplugs import plugin_mark

PACKAGES = (dioptra_builtins, dioptra_examples)
PROJECT_DIRS = {package.__name__: Path(package.__file__ or "").parents[2] for package in PACKAGES}
SOURCE_DIRS = [str(project / "src") for project in PROJECT_DIRS.values()]


def _walk_plugin_modules() -> Iterator[ModuleType]:
    for package in PACKAGES:
        for info in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not info.ispkg:
                yield importlib.import_module(info.name)


PLUGIN_MODULES = list(_walk_plugin_modules())


def public_functions(module: ModuleType) -> Iterator[tuple[str, Callable[..., Any]]]:
    """Functions defined (not imported) in module whose names do not start with '_'."""
    for name, value in vars(module).items():
        defined_here = inspect.isfunction(value) and value.__module__ == module.__name__
        if defined_here and not name.startswith("_"):
            yield name, value


def registered_tasks() -> list[tuple[str, str, Callable[..., Any]]]:
    """(module, function name, function) of every function marked with @register."""
    return [
        (module.__name__, name, function)
        for module in PLUGIN_MODULES
        for name, function in public_functions(module)
        if plugin_mark(function) is not None
    ]
