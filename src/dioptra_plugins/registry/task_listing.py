"""The registered task plugins of a package or of plugin dirs: ``dioptra_plugins.tasks``.

This is what ``dioptra-plugins tasks --json`` prints under ``"tasks"``; the command line calls
:func:`collect_tasks` and only prints.  Listing tasks imports the plugins (a registry's work),
unlike ``list_plugins``, which reads manifests.
"""

from __future__ import annotations

import inspect
import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dioptra_plugins.errors import PluginImportError, UsageError
from dioptra_plugins.plugindir.layout import PLUGIN_DIR_VARIABLE
from dioptra_plugins.registry.lookup import may_hold_python, module_name

if TYPE_CHECKING:
    from dioptra_plugins.registry.registry import PluginInfo, Registry


def packages_in(directories: Sequence[Path]) -> Iterator[str]:
    """Top-level packages in the plugin dirs: regular ones and namespace folders (PEP 420)."""
    seen: set[str] = set()
    for directory in directories:
        for child in sorted(directory.iterdir()):
            name = child.name
            if not name.isidentifier() or name.startswith("_") or name in seen:
                continue
            if child.is_dir() and may_hold_python(child):
                seen.add(name)
                yield name


def load_packages(registry: Registry, packages: Sequence[str]) -> list[PluginImportError]:
    """Import every plugin of ``packages``; every failure is returned, none hides another."""
    failures: list[PluginImportError] = []
    for package in packages:
        try:
            failures.extend(registry.load_package(package, recursive=True))
        except PluginImportError as error:  # the package's own __init__ is broken
            failures.append(error)
    return failures


class _Annotation(str):
    """An annotation kept as source text (``from __future__ import annotations``), unquoted."""

    def __repr__(self) -> str:
        return str(self)


def _unquoted(annotation: Any) -> Any:
    return _Annotation(annotation) if isinstance(annotation, str) else annotation


def _signature(info: PluginInfo) -> str:
    """The signature as written in the source, like the task manifest shows it."""
    try:
        signature = inspect.signature(info.func)
    except (TypeError, ValueError):
        return "(...)"
    parameters = [
        p.replace(annotation=_unquoted(p.annotation)) for p in signature.parameters.values()
    ]
    return str(
        signature.replace(
            parameters=parameters, return_annotation=_unquoted(signature.return_annotation)
        )
    )


def _task_document(info: PluginInfo) -> dict[str, Any]:
    return {
        "module": module_name(info.package_name, info.plugin_name),
        "package": info.package_name,
        "plugin": info.plugin_name,
        "function": info.func_name,
        "signature": _signature(info),
        "description": info.description.strip().splitlines()[0] if info.description else "",
        "sort_value": info.sort_value,
    }


def collect_tasks(
    package: str | None = None,
    *,
    plugin_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    registry: Registry | None = None,
) -> tuple[list[dict[str, Any]], list[PluginImportError]]:
    """The task documents, and every plugin module that failed to import (see :func:`tasks`)."""
    # The registry (and the plugins it imports) only when tasks are listed: naming
    # ``dioptra_plugins.tasks`` stays cheap.
    from dioptra_plugins.plugindir.pylock import declared_params_in, sources_in
    from dioptra_plugins.plugindir.syspath import plugin_dirs
    from dioptra_plugins.registry.registry import Registry

    registry = registry if registry is not None else Registry()
    if isinstance(plugin_dir, os.PathLike):
        plugin_dir = [plugin_dir]  # one directory, not a sequence of them
    with plugin_dirs(plugin_dir) as directories:
        if package is None and not directories:
            # An empty listing would look like "no tasks" when nothing was looked at.
            raise UsageError(
                "no plugin dir to list: pass `plugin_dir` (existing, absolute) or set "
                f"${PLUGIN_DIR_VARIABLE}",
                parameters=("plugin_dir",),
            )
        packages = [package] if package else list(packages_in(directories))
        failures = load_packages(registry, packages)
        found = [_task_document(info) for info in registry.plugins(package)]
        # The commit each task's bundle was built from, as the plugin dir's lock records it,
        # and the parameters a dioptra.toml declared for it, as its bundle's manifest has them.
        sources = sources_in(directories)
        declared = declared_params_in(directories)
        for task in found:
            if (source := sources.get(task["package"])) is not None:
                task["provenance"] = source  # only bundles built from git have one
            task.update(declared.get((task["module"], task["function"]), {}))
    return found, failures


def tasks(
    package: str | None = None,
    *,
    plugin_dir: str | os.PathLike[str] | Sequence[str | os.PathLike[str]] | None = None,
    errors: list[PluginImportError] | None = None,
) -> list[dict[str, Any]]:
    """The registered task plugins of ``package``, or of every package in the plugin dirs.

    ``plugin_dir``: absolute plugin dirs to import from (one path, ``DIR:DIR`` or a list;
    default ``$DIOPTRA_PLUGINS_DIR``); synced ones are read at their current generation.  The
    plugins are imported (into a registry of this call's own).  Each task is a dict:
    ``module``, ``package``, ``plugin``, ``function``, ``signature`` (as written),
    ``description`` (its docstring's first line), ``sort_value``, and ``provenance`` (the git
    commit its bundle was built from) and what a ``dioptra.toml`` declared, when present.

    A plugin module that fails to import raises its PluginImportError, unless ``errors`` is a
    list: then every failure is appended to it and the tasks that did load are returned.
    UsageError when neither ``package`` nor a plugin dir is given.
    """
    found, failures = collect_tasks(package, plugin_dir=plugin_dir)
    if errors is None:
        if failures:
            raise failures[0]
    else:
        errors.extend(failures)
    return found
