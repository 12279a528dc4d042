"""The plugins an entry point run uses: sync them first if asked, then pin one generation.

Which requirements a run syncs, first match wins: ``--sync REQUIREMENT...``, ``-r FILE``, a
``plugins.txt`` beside the ``MLproject`` file.  With none of them the run uses the plugin dir
as it is (or no plugin dir at all).

The command gets ``DIOPTRA_PLUGIN_DIR`` set to the pinned *generation directory* rather than
the plugin dir's root: the root's entry links follow ``current``, so a sync during the run
would change what a later ``import`` in the job finds.  The generation directory is immutable
(its links point into the read-only store), and the pin keeps ``gc`` from collecting it until
the command has exited.
"""

from __future__ import annotations

import contextlib
import logging
import tomllib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.index.defaults import required_index
from dioptra_plugins.plugindir.layout import (
    LOCK_FILENAME,
    PLUGIN_DIR_VARIABLE,
    PluginDirLayout,
    default_plugin_dir,
    no_plugin_dir,
)
from dioptra_plugins.plugindir.pins import PinnedGeneration

logger = logging.getLogger(__name__)

PROJECT_PLUGINS_FILE = "plugins.txt"


@dataclass(frozen=True)
class PluginRequirements:
    """What to sync before the run and where that came from (for messages and run.json)."""

    requirements: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class RunPlugins:
    """What the command runs with: the plugin dir, its pinned generation and lock, if any."""

    plugin_dir: Path | None
    generation: Path | None = None
    synced: PluginRequirements | None = None

    @property
    def generation_name(self) -> str | None:
        return self.generation.name if self.generation else None

    @property
    def lock_file(self) -> Path | None:
        if self.generation is None:
            return None
        lock = self.generation / LOCK_FILENAME
        return lock if lock.is_file() else None

    def locked_versions(self) -> dict[str, str]:
        """``{name: version}`` of the packages in the generation's lock (empty without one)."""
        if self.lock_file is None:
            return {}
        try:
            lock = tomllib.loads(self.lock_file.read_text(encoding="utf-8"))
            return {str(p["name"]): str(p["version"]) for p in lock.get("packages", [])}
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as error:
            logger.warning("cannot read the versions in %s: %s", self.lock_file, error)
            return {}

    def locked_provenance(self) -> dict[str, dict[str, Any]]:
        """``{name: provenance}`` of the lock's packages built from git (commit, url, tree...)."""
        if self.lock_file is None:
            return {}
        from dioptra_plugins.plugindir.pylock import lock_provenance

        try:
            lock = tomllib.loads(self.lock_file.read_text(encoding="utf-8"))
            packages = lock.get("packages", [])
            found = {str(p["name"]): lock_provenance(p) for p in packages if isinstance(p, dict)}
        except (OSError, tomllib.TOMLDecodeError, KeyError, TypeError) as error:
            logger.warning("cannot read the sources in %s: %s", self.lock_file, error)
            return {}
        return {name: provenance for name, provenance in found.items() if provenance}

    def environment(self) -> dict[str, str]:
        """Variables for the command: where to import plugins from, and which generation."""
        if self.plugin_dir is None:
            return {}
        env = {PLUGIN_DIR_VARIABLE: str(self.generation or self.plugin_dir)}
        if self.generation is not None:
            env["DIOPTRA_PLUGIN_GENERATION"] = self.generation.name
        if self.lock_file is not None:
            env["DIOPTRA_PLUGIN_LOCK"] = str(self.lock_file)
        return env


def plugin_requirements(
    project_dir: Path,
    requirements: Sequence[str] = (),
    requirements_file: Path | None = None,
    *,
    use_project_file: bool = True,
) -> PluginRequirements | None:
    """The requirements to sync before the run, or None when the run syncs nothing."""
    from dioptra_plugins.syncing.requirements import read_requirements_file

    if requirements:
        return PluginRequirements(tuple(requirements), "--sync")
    file = requirements_file
    if file is None and use_project_file and (project_dir / PROJECT_PLUGINS_FILE).is_file():
        file = project_dir / PROJECT_PLUGINS_FILE
    if file is None:
        return None
    lines = read_requirements_file(file)
    if not lines:
        # Syncing to nothing would empty the plugin dir under every other user of it.
        logger.warning("%s lists no requirements: not syncing", file)
        return None
    logger.info("using the plugin requirements in %s", file)
    return PluginRequirements(tuple(lines), str(file))


@contextlib.contextmanager
def prepared_plugins(
    requirements: PluginRequirements | None,
    *,
    index: str | None,
    plugin_dir: Path | None,
    timeout: float | None = None,
) -> Iterator[RunPlugins]:
    """Sync ``requirements`` (unless None) into ``plugin_dir``, then pin its current generation.

    ``plugin_dir`` and ``index`` default to ``$DIOPTRA_PLUGIN_DIR`` and
    ``$DIOPTRA_PLUGINS_INDEX``, ``timeout`` as ``sync()``'s.  The pin lasts until the block
    exits.
    """
    chosen_dir = default_plugin_dir(plugin_dir)
    plugin_dir = Path(chosen_dir) if chosen_dir is not None else None
    if requirements is not None:
        if plugin_dir is None:
            raise no_plugin_dir(f"syncing the plugins of {requirements.source}")
        _sync(requirements, index=index, plugin_dir=plugin_dir, timeout=timeout)
    if plugin_dir is None:
        yield RunPlugins(plugin_dir=None)
        return
    plugin_dir = plugin_dir.absolute()
    layout = PluginDirLayout(plugin_dir)
    if not layout.is_synced():
        if not plugin_dir.is_dir():
            raise PluginDirError(f"{plugin_dir}: plugin dir does not exist")
        # A plain directory of plugin packages (a developer's checkout): nothing to pin.
        yield RunPlugins(plugin_dir=plugin_dir)
        return
    with PinnedGeneration(layout) as pinned:
        logger.info("running on %s generation %s", plugin_dir, pinned.name)
        yield RunPlugins(plugin_dir=plugin_dir, generation=pinned.path, synced=requirements)


def _sync(
    requirements: PluginRequirements,
    *,
    index: str | None,
    plugin_dir: Path,
    timeout: float | None,
) -> None:
    index = required_index(
        index,
        needed_for=f"syncing the plugins of {requirements.source}",
        hint="" if requirements.source == "--sync" else "--no-sync runs without syncing",
    )
    from dioptra_plugins import sync

    result = sync(
        list(requirements.requirements), index=index, plugin_dir=plugin_dir, timeout=timeout
    )
    logger.info(
        "synced %s into %s: generation %s",
        ", ".join(requirements.requirements),
        plugin_dir,
        result.generation,
    )
