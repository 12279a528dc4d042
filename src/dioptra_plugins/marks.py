"""The ``@register`` marker: what it attaches to a function, and how to read it back.

Below both :mod:`~dioptra_plugins.registry` and :mod:`~dioptra_plugins.pyplugs` (as pluggy keeps
its markers in ``_hooks.py`` and the manager imports them, never the reverse): marking needs
no registry, so a plugin module that only does ``from dioptra_plugins.pyplugs import register``
costs nothing more than this module.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, TypeVar, overload

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
