"""Dioptra-compatible ``pyplugs``: change the import, keep the entry-point script.

The API of Dioptra's fork (``register``, ``task_nout``, ``names``, ``funcs``, ``info``,
``exists``, ``get``, ``call``, ``get_task``, ``call_task`` and their ``*_factory`` forms, the
exceptions it raises) and of upstream pyplugs 0.5 (``register(label=...)``, ``labels``,
``label=`` on ``funcs``/``info``/``get``/``call``, ``get_typed``, ``call_typed``,
``labels_factory``).  ``call(package, plugin, func, *args)`` stays positional as in Dioptra, so
``label`` is keyword-only there.

``register`` only marks a function (pluggy style); finding and calling marked functions is the
job of a :class:`~dioptra_plugins.registry.registry.Registry` instance.  The module
functions are the methods of one default :class:`Registry`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any

from dioptra_plugins.errors import (
    PluginImportError,
    PrefectDependencyError,
    RegistryError,
    UnknownPackageError,
    UnknownPluginError,
    UnknownPluginFunctionError,
)
from dioptra_plugins.registry.marks import (
    MARK_ATTRIBUTE,
    PluginMark,
    plugin_mark,
    register,
    task_nout,
)
from dioptra_plugins.registry.registry import PluginInfo, Registry, default_registry
from dioptra_plugins.registry.workflows import require_prefect

# The base class names pyplugs (``PyPlugsError``) and Dioptra (``BasePyPlugsException``) give
# the lookup errors.
PyPlugsError = RegistryError
BasePyPlugsException = RegistryError

# --- the module functions, over a default Registry -----------------------------------------------
# They are the default registry's bound methods rather than wrappers: forwarding ``*args,
# **kwargs`` through a wrapper doubled the cost of every ``pyplugs.call`` (bench_reload.py).

_default = default_registry()


names = _default.names
funcs = _default.funcs
labels = _default.labels
info = _default.info
exists = _default.exists
get = _default.get
get_typed = _default.get_typed
call = _default.call
call_typed = _default.call_typed
get_task = _default.get_task
call_task = _default.call_task


def names_factory(package: str) -> Callable[[], list[str]]:
    """Create a names() function for one package."""
    return functools.partial(names, package)


def funcs_factory(package: str) -> Callable[..., list[str]]:
    """Create a funcs() function for one package."""
    return functools.partial(funcs, package)


def labels_factory(package: str) -> Callable[[str], set[str]]:
    """Create a labels() function for one package."""
    return functools.partial(labels, package)


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
    """Create a get_task() function for one package (needs Prefect, as in Dioptra)."""
    require_prefect("get_task_factory")
    return functools.partial(get_task, package)


def call_task_factory(package: str) -> Callable[..., Any]:
    """Create a call_task() function for one package (needs Prefect, as in Dioptra)."""
    require_prefect("call_task_factory")
    return functools.partial(call_task, package)


__all__ = [
    "MARK_ATTRIBUTE",
    "BasePyPlugsException",
    "PluginImportError",
    "PluginInfo",
    "PluginMark",
    "PrefectDependencyError",
    "PyPlugsError",
    "Registry",
    "UnknownPackageError",
    "UnknownPluginError",
    "UnknownPluginFunctionError",
    "call",
    "call_factory",
    "call_task",
    "call_task_factory",
    "call_typed",
    "default_registry",
    "exists",
    "exists_factory",
    "funcs",
    "funcs_factory",
    "get",
    "get_factory",
    "get_task",
    "get_task_factory",
    "get_typed",
    "info",
    "info_factory",
    "labels",
    "labels_factory",
    "names",
    "names_factory",
    "plugin_mark",
    "register",
    "task_nout",
]
