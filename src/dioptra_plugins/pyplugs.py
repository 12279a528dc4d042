"""Dioptra-compatible ``pyplugs`` functions: change the import, keep the entry-point script.

``register`` only marks a function (pluggy style); finding and calling marked functions is the
job of a :class:`~dioptra_plugins.registry.Registry` instance.  The module functions below
(``names``, ``funcs``, ``info``, ``exists``, ``get``, ``call``, ``get_task``, ``call_task`` and
their ``*_factory`` forms) are the methods of one default :class:`Registry`.
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from dioptra_plugins.errors import (
    PluginImportError,
    UnknownPackageError,
    UnknownPluginError,
    UnknownPluginFunctionError,
)

F = TypeVar("F", bound=Callable[..., Any])

MARK_ATTRIBUTE = "__dioptra_plugin__"


@dataclass(frozen=True)
class PluginMark:
    """What ``@register`` attaches to a function."""

    sort_value: float = 0


@overload
def register(_func: F) -> F: ...
@overload
def register(_func: None = None, *, sort_value: float = 0) -> Callable[[F], F]: ...
def register(_func: F | None = None, *, sort_value: float = 0) -> F | Callable[[F], F]:
    """Mark a function as a task plugin; usable bare or as ``@register(sort_value=...)``."""

    def mark(func: F) -> F:
        setattr(func, MARK_ATTRIBUTE, PluginMark(sort_value=sort_value))
        return func

    if _func is None:
        return mark
    return mark(_func)


def plugin_mark(obj: object) -> PluginMark | None:
    """The mark ``@register`` left on ``obj``, or None."""
    mark = getattr(obj, MARK_ATTRIBUTE, None)
    return mark if isinstance(mark, PluginMark) else None


def task_nout(nout: int) -> Callable[[F], F]:
    """Dioptra's marker for a task returning ``nout`` outputs (kept for source compatibility)."""

    def mark(func: F) -> F:
        setattr(func, "_task_nout", nout)  # noqa: B010
        return func

    return mark


# --- the module functions, over a default Registry -----------------------------------------------
# They are the default registry's bound methods rather than wrappers: forwarding ``*args,
# **kwargs`` through a wrapper doubled the cost of every ``pyplugs.call`` (bench_reload.py).
# registry.py imports this module only lazily, so importing it here is not circular.

from dioptra_plugins.registry import PluginInfo, Registry  # noqa: E402

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
