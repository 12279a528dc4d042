"""The ``@register`` marker: what it attaches to a function, and how to read it back.

Below both :mod:`~dioptra_plugins.registry.registry` and :mod:`~dioptra_plugins.pyplugs` (as
pluggy keeps its markers in ``_hooks.py`` and the manager imports them, never the reverse):
marking needs no registry, so a plugin module that only does
``from dioptra_plugins.pyplugs import register`` costs nothing more than this module.

Every mark carries a process-wide registration number, so the registry can list a module's
functions in the order ``@register`` ran on them, as pyplugs does (its registry is a dict filled
at decoration time), whatever another decorator did to the function's code object.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, TypeVar, overload

F = TypeVar("F", bound=Callable[..., Any])

MARK_ATTRIBUTE = "__dioptra_plugin__"
TASK_NOUT_ATTRIBUTE = "_task_nout"  # Dioptra's name: plugins and flows read it as is

# next() on itertools.count is atomic under the GIL: two threads never draw the same number.
_registrations = itertools.count()


@dataclass(frozen=True)
class PluginMark:
    """What ``@register`` attaches to a function.

    ``order`` is the registration number (it says which of a module's functions was registered
    first); it is left out of comparisons, so two marks with the same arguments are equal.
    """

    sort_value: float = 0
    label: str | None = None
    order: int = field(default=-1, compare=False)


@overload
def register(_func: F) -> F: ...
@overload
def register(
    _func: None = None, *, sort_value: float = 0, label: str | None = None
) -> Callable[[F], F]: ...
def register(
    _func: F | None = None, *, sort_value: float = 0, label: str | None = None
) -> F | Callable[[F], F]:
    """Mark a function (or class) as a task plugin.

    Usable bare (``@register``) or with arguments (``@register(sort_value=-1, label="x")``),
    as in pyplugs 0.5.
    """

    def mark(func: F) -> F:
        order = next(_registrations)
        setattr(func, MARK_ATTRIBUTE, PluginMark(sort_value=sort_value, label=label, order=order))
        return func

    if _func is None:
        return mark
    return mark(_func)


def plugin_mark(obj: object) -> PluginMark | None:
    """The mark ``@register`` left on ``obj`` itself, or None.

    For a class only its own mark counts: a subclass of a registered class is not a plugin
    unless it is registered too.
    """
    if isinstance(obj, type):
        mark = vars(obj).get(MARK_ATTRIBUTE)
    else:
        mark = getattr(obj, MARK_ATTRIBUTE, None)
    if isinstance(mark, PluginMark):
        return mark
    return _foreign_mark(mark)


def _foreign_mark(mark: object) -> PluginMark | None:
    """A mark left by another copy of this module, as this copy's :class:`PluginMark`.

    A process can hold two copies of ``dioptra_plugins.registry.marks``: Dioptra's own tests hide
    Prefect by deleting every module named like "dioptra" from ``sys.modules`` and importing
    pyplugs afresh, while the plugin modules imported before stay loaded with the old copy's
    marks.  Those functions are still registered plugins, so a mark is recognised by what it
    is (this module's class, by name) rather than by identity with this copy's class.
    """
    kind = type(mark)
    if kind.__module__ != __name__ or kind.__qualname__ != PluginMark.__qualname__:
        return None
    sort_value = getattr(mark, "sort_value", None)
    label = getattr(mark, "label", None)
    order = getattr(mark, "order", None)
    if (
        not isinstance(sort_value, (int, float))
        or isinstance(sort_value, bool)
        or not (label is None or isinstance(label, str))
        or not isinstance(order, int)
    ):
        return None
    return PluginMark(sort_value=sort_value, label=label, order=order)


def task_nout(nout: int) -> Callable[[F], F]:
    """Dioptra's marker for a task returning ``nout`` outputs.

    A workflow engine then hands back ``nout`` separate results, so ``seed, rng =
    pyplugs.call_task(...)`` unpacks inside a flow as well as outside one.
    """

    def mark(func: F) -> F:
        setattr(func, TASK_NOUT_ATTRIBUTE, nout)
        return func

    return mark


def nout_of(func: object) -> int | None:
    """The ``nout`` that ``@task_nout`` gave ``func``, or None."""
    nout = getattr(func, TASK_NOUT_ATTRIBUTE, None)
    return nout if isinstance(nout, int) and not isinstance(nout, bool) else None
