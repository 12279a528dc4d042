"""No shadowing: a sync refuses bundles whose top-level import names the environment provides.

A plugin dir goes on ``sys.path`` right after ``sys.path[0]``, before the standard library and
site-packages (:func:`~dioptra_plugins.plugindir.syspath.plugin_dirs`).  A bundle named
``colorsys``, ``yaml`` or ``dioptra_plugins`` would then replace that module in every process
that uses the plugin dir, whether or not a job ever calls the plugin.  So a sync refuses to
install a bundle whose top-level name the worker's environment already provides, naming what
provides it, unless the caller allows that name explicitly (``allow_shadowing``).

"The environment" is the interpreter's own: the standard library and built-in modules, and
what Python's path finder (the import system's own search) finds on the ``sys.path`` entries
that are not plugin dirs, nor generations or stores of one; a setuptools editable install's
import hook counts too.  Left out:

- plugin dirs: a worker running inside :func:`plugin_dirs` has its own generation on
  ``sys.path`` and must still be able to upgrade its own plugins;
- ``sys.path[0]`` (the script's directory, or the working directory): it comes *before* the
  plugin dirs, so nothing there is shadowed (a bundle of the same name would be the hidden one),
  and it differs from one process to the next.

Cost: nothing for a sync that adds or changes no bundle (only the new and changed ones are
looked at); otherwise a set lookup and one path-finder search per new top-level name (the
finders cache their directory listings), each answer cached for the process.  Which
distribution provides a name is read only to word a refusal, once per process.
"""

from __future__ import annotations

import functools
import importlib.machinery
import logging
import os
import sys
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING

from dioptra_plugins.errors import ShadowingError, UsageError
from dioptra_plugins.plugindir.layout import META_DIR, PLUGIN_DIR_VARIABLE, PluginDirLayout

if TYPE_CHECKING:
    from dioptra_plugins.plugindir.pylock import LockedPackage
    from dioptra_plugins.syncing.changes import Changes

logger = logging.getLogger(__name__)

OWN_NAME = __name__.partition(".")[0]
STANDARD_LIBRARY = frozenset(sys.stdlib_module_names) | frozenset(sys.builtin_module_names)


def allowed_names(allow: Iterable[str]) -> frozenset[str]:
    """The top-level names a caller allows to shadow; anything else is a usage error."""
    names = [allow] if isinstance(allow, str) else list(allow)
    bad = [name for name in names if not isinstance(name, str) or not name.isidentifier()]
    if bad:
        raise UsageError(
            "allow_shadowing takes top-level import names (like 'utils'), not "
            + ", ".join(repr(name) for name in bad)
        )
    return frozenset(names)


def check_shadowing(
    layout: PluginDirLayout,
    packages: Iterable[LockedPackage],
    changes: Changes,
    allow: Iterable[str] = (),
) -> None:
    """Raise :class:`ShadowingError` if a bundle this sync adds or changes would shadow the
    environment (see the module docstring); names in ``allow`` are let through, with a warning.

    Bundles already installed and unchanged are not checked again: the check costs nothing on a
    sync that changes nothing.
    """
    allowed = allowed_names(allow)
    new_names: dict[str, list[str]] = {}
    for package in packages:
        if package.name in changes.installed or package.name in changes.upgraded:
            top = PluginDirLayout.entry_name(package.top_level)
            new_names.setdefault(top, []).append(package.filename)
    if not new_names:
        return
    search = environment_path(layout)
    providers: dict[str, str] = {}
    for name in sorted(new_names):
        provider = provided_by(name, search)
        if provider is None:
            continue
        if name in allowed:
            logger.warning(
                "installing %s although the environment provides %r (%s): allowed explicitly",
                ", ".join(new_names[name]),
                name,
                provider,
            )
            continue
        providers[name] = provider
    if providers:
        raise ShadowingError(providers, {name: new_names[name] for name in providers})


def environment_path(layout: PluginDirLayout | None = None) -> list[str]:
    """The ``sys.path`` entries that are the environment's own (see the module docstring)."""
    entries = list(sys.path)
    if entries and not sys.flags.safe_path:
        entries = entries[1:]  # the script's directory: before the plugin dirs, never shadowed
    # $DIOPTRA_PLUGIN_DIR's entries, read without readable_plugin_dirs' warnings about missing
    # ones: a sync should not log about the plugin dirs of other processes.
    configured = os.environ.get(PLUGIN_DIR_VARIABLE, "").split(os.pathsep)
    excluded = [Path(os.path.realpath(d)) for d in configured if os.path.isabs(d)]
    if layout is not None:
        excluded.append(Path(os.path.realpath(layout.root)))
    excluded.extend(Path(os.path.realpath(entry)) for entry in _plugin_dirs_on_path())
    found: list[str] = []
    for entry in entries:
        if not entry:
            continue
        real = Path(os.path.realpath(entry))
        if any(real == root or root in real.parents for root in excluded):
            continue
        if _inside_plugin_dir(Path(os.path.abspath(entry))) or _inside_plugin_dir(real):
            continue
        found.append(entry)
    return found


def _plugin_dirs_on_path() -> list[str]:
    """The entries open :func:`plugin_dirs` blocks added (plain plugin dirs included)."""
    from dioptra_plugins.plugindir import syspath

    # Read without the edit lock: a snapshot of lists that are only ever replaced or edited
    # whole under it, good enough to tell plugin dirs from the environment.
    return [entry for block in list(syspath._open_blocks) for entry in list(block)]


def _inside_plugin_dir(path: Path) -> bool:
    """Whether ``path`` is a synced plugin dir (it holds ``.dioptra-plugins``), or a generation
    or store entry inside one (``<dir>/.dioptra-plugins/generations/000042``)."""
    return META_DIR in path.parts or (path / META_DIR).is_dir()


def provided_by(name: str, search: list[str]) -> str | None:
    """What provides top-level module ``name`` in the environment, in words; None if nothing.

    Answers are cached per process (by name and search path): a long-lived worker asks once
    per new bundle name, whatever the number of syncs.
    """
    return _provided_by(name, tuple(search))


@functools.lru_cache(maxsize=4096)
def _provided_by(name: str, search: tuple[str, ...]) -> str | None:
    if name in STANDARD_LIBRARY:
        return "the standard library"
    location = _found_on_path(name, list(search))
    if location is None:
        location = _found_by_import_hook(name)
    if location is None:
        return None
    if name == OWN_NAME:
        return f"dioptra-plugins itself, the runtime that loads plugins ({location})"
    distributions = _distributions().get(name)
    if distributions:
        which = ", ".join(sorted(set(distributions)))
        return f"the installed distribution {which} ({location})"
    return f"{location}, on the interpreter's path"


def _found_on_path(name: str, search: list[str]) -> str | None:
    try:
        spec = importlib.machinery.PathFinder.find_spec(name, search)
    except (ImportError, ValueError, OSError):
        return None
    if spec is None:
        return None
    if spec.origin and spec.origin not in ("namespace", "built-in", "frozen"):
        return spec.origin
    locations = list(spec.submodule_search_locations or [])
    if locations:
        return "namespace package in " + ", ".join(locations)
    return spec.origin or name


def _found_by_import_hook(name: str) -> str | None:
    """A module a setuptools editable install's import hook provides.

    Only those hooks are asked (their modules are named ``__editable___<project>_finder``): an
    arbitrary hook may act when asked (setuptools' ``_distutils_hack`` rearranges
    ``sys.modules`` when asked for ``pip``), and no sync should change the process it runs in.
    """
    for finder in list(sys.meta_path):
        kind = finder if isinstance(finder, type) else type(finder)
        if not kind.__module__.startswith("__editable__"):
            continue
        find_spec = getattr(finder, "find_spec", None)
        if not callable(find_spec):
            continue
        try:
            spec = find_spec(name, None)
        except Exception:  # someone else's hook: its failure is not an answer
            logger.debug("import hook %r failed on %r", finder, name, exc_info=True)
            continue
        if spec is not None:
            origin = getattr(spec, "origin", None)
            return f"{origin or name} (editable install, {kind.__module__})"
    return None


@functools.cache
def _distributions() -> dict[str, list[str]]:
    """Top-level name -> the distributions providing it (read once, only to word a refusal)."""
    import importlib.metadata

    try:
        found = importlib.metadata.packages_distributions()
        return {name: list(dists) for name, dists in found.items()}
    except Exception:  # damaged metadata of some distribution: the refusal names the path alone
        logger.debug("cannot map modules to distributions", exc_info=True)
        return {}
