"""What the registry knows about one loaded module: its marked functions, collected after it ran.

Registration is pluggy-style: ``@register`` only marks a function; :func:`collect_plugins`
finds the marked objects *defined* in a module (``obj.__module__ == module.__name__``) by
scanning its namespace after executing it, and orders them by the mark's registration number,
the order in which ``@register`` ran, as pyplugs orders them.  An entry is immutable and
replaced whole; :func:`diff` says what a reload added, changed and removed.
"""

from __future__ import annotations

import textwrap
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from types import CodeType, MappingProxyType, ModuleType
from typing import Any, NamedTuple

from dioptra_plugins.registry.marks import PluginMark, plugin_mark
from dioptra_plugins.registry.reload import ReloadEvent


class PluginInfo(NamedTuple):
    """One plugin function: the fields of Dioptra's ``pyplugs.PluginInfo``, then pyplugs 0.5's
    ``label``."""

    package_name: str
    plugin_name: str
    func_name: str
    func: Callable[..., Any]
    description: str
    doc: str
    module_doc: str
    sort_value: float
    label: str | None = None


@dataclass(frozen=True)
class ModuleEntry:
    """One loaded module as the registry knows it; replaced whole, never mutated."""

    name: str
    module: ModuleType
    file: str | None
    source_hash: str | None
    imports: frozenset[str]
    functions: Mapping[str, PluginInfo]  # in registration order
    default: PluginInfo | None  # what func=None means: the first registered without a label
    unlabelled: Mapping[str, PluginInfo]  # the functions ``label=None`` selects (the hot path)

    def first(self, label: str | None) -> PluginInfo | None:
        """The first registered function with ``label`` (None: without a label)."""
        return next((info for info in self.functions.values() if info.label == label), None)

    @property
    def sort_value(self) -> float:
        """How ``names()`` orders this plugin: its default function's sort_value."""
        chosen = self.default or next(iter(self.functions.values()), None)
        return chosen.sort_value if chosen is not None else 0


def collect_plugins(module: ModuleType) -> dict[str, PluginInfo]:
    """The marked functions and classes defined in ``module``, in registration order."""
    name = module.__name__
    package_name, _, plugin_name = name.rpartition(".")
    module_doc = module.__doc__ or ""
    found: dict[int, tuple[PluginMark, Callable[..., Any]]] = {}
    for obj in list(vars(module).values()):
        mark = plugin_mark(obj)
        if mark is None or getattr(obj, "__module__", None) != name or not callable(obj):
            continue
        found.setdefault(id(obj), (mark, obj))
    plugins: dict[str, PluginInfo] = {}
    for mark, func in sorted(found.values(), key=lambda item: item[0].order):
        func_name = str(getattr(func, "__name__", ""))
        # Same split as pyplugs: first paragraph, then the dedented rest.
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
                sort_value=mark.sort_value,
                label=mark.label,
            ),
        )
    return plugins


def make_entry(
    name: str,
    module: ModuleType,
    file: str | None,
    digest: str | None,
    imports: frozenset[str],
) -> ModuleEntry:
    functions = collect_plugins(module)
    unlabelled = {func: info for func, info in functions.items() if info.label is None}
    default = next(iter(unlabelled.values()), None)
    return ModuleEntry(
        name,
        module,
        file,
        digest,
        imports,
        MappingProxyType(functions),
        default,
        unlabelled,  # a plain dict (typed read-only): a proxy's .get costs ~20 ns a call
    )


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
    # A function wrapped by another module's decorator (Dioptra's ``@require_package``) has
    # the wrapper's code: what changed is in the functions it wraps (``__wrapped__``).
    layers: list[Any] = []
    func: Any = info.func
    while func is not None and len(layers) < 32:
        layers.append(
            (
                _code_key(getattr(func, "__code__", None)),
                getattr(func, "__defaults__", None),
                getattr(func, "__kwdefaults__", None),
            )
        )
        func = getattr(func, "__wrapped__", None)
    return (tuple(layers), info.sort_value, info.label, info.func.__doc__)


def diff(name: str, old: ModuleEntry | None, new: ModuleEntry) -> ReloadEvent:
    """The reload event for replacing ``old`` by ``new``: functions added, changed, removed."""
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
