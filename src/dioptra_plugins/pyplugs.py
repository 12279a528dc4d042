"""Dioptra-compatible ``pyplugs`` functions: change the import, keep the entry-point script.

``register`` only marks a function (pluggy style); finding and calling marked functions is the
job of a :class:`~dioptra_plugins.registry.Registry` instance.  The module functions below
(``names``, ``funcs``, ``info``, ``exists``, ``get``, ``call``, ``get_task``, ``call_task`` and
their ``*_factory`` forms) are the methods of one default :class:`Registry`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from dioptra_plugins.errors import (
    PluginImportError,
    UnknownPackageError,
    UnknownPluginError,
    UnknownPluginFunctionError,
)
from dioptra_plugins.marks import (
    MARK_ATTRIBUTE,
    PluginMark,
    plugin_mark,
    register,
    task_nout,
)
from dioptra_plugins.registry import PluginInfo, Registry

# --- the module functions, over a default Registry -----------------------------------------------
# They are the default registry's bound methods rather than wrappers: forwarding ``*args,
# **kwargs`` through a wrapper doubled the cost of every ``pyplugs.call`` (bench_reload.py).

_default = Registry()


def default_registry() -> Registry:
    """The registry pyplugs' module functions use."""
    return _default


names = _default.names
funcs = _default.funcs
info = _default.info
exists = _default.exists
get = _default.get
call = _default.call
get_task = _default.get_task
call_task = _default.call_task


def names_factory(package: str) -> Callable[[], list[str]]:
    """Create a names() function for one package."""
    return functools.partial(names, package)


def funcs_factory(package: str) -> Callable[[str], list[str]]:
    """Create a funcs() function for one package."""
    return functools.partial(funcs, package)


def info_factory(package: str) -> Callable[..., PluginInfo]:
    """Create an info() function for one package."""
    return functools.partial(info, package)


def exists_factory(package: str) -> Callable[[str], bool]:
    """Create an exists() function for one package."""
    return functools.partial(exists, package)


def get_factory(package: str) -> Callable[..., Callable[..., Any]]:
    """Create a get() function for one package."""
    return functools.partial(get, package)


def call_factory(package: str) -> Callable[..., Any]:
    """Create a call() function for one package."""
    return functools.partial(call, package)


def get_task_factory(package: str) -> Callable[..., Any]:
    """Create a get_task() function for one package."""
    return functools.partial(get_task, package)


def call_task_factory(package: str) -> Callable[..., Any]:
    """Create a call_task() function for one package."""
    return functools.partial(call_task, package)


__all__ = [
    "MARK_ATTRIBUTE",
    "PluginImportError",
    "PluginInfo",
    "PluginMark",
    "Registry",
    "UnknownPackageError",
    "UnknownPluginError",
    "UnknownPluginFunctionError",
    "call",
    "call_factory",
    "call_task",
    "call_task_factory",
    "default_registry",
    "exists",
    "exists_factory",
    "funcs",
    "funcs_factory",
    "get",
    "get_factory",
    "get_task",
    "get_task_factory",
    "info",
    "info_factory",
    "names",
    "names_factory",
    "plugin_mark",
    "register",
    "task_nout",
]
