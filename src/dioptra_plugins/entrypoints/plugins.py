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
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dioptra_plugins.errors import PluginDirError, UsageError
from dioptra_plugins.sync.layout import PluginDirLayout, pin_generation

logger = logging.getLogger(__name__)

PROJECT_PLUGINS_FILE = "plugins.txt"
LOCK_FILE = "pylock.toml"
PLUGIN_DIR_VARIABLE = "DIOPTRA_PLUGIN_DIR"
INDEX_VARIABLE = "DIOPTRA_PLUGINS_INDEX"


@dataclass(frozen=True)
class RunPlugins:
    """What the command runs with: the plugin dir, its pinned generation and lock, if any."""

    plugin_dir: Path | None
    generation: Path | None = None
    synced: bool = False

    @property
    def generation_name(self) -> str | None:
        return self.generation.name if self.generation else None

    @property
    def lock_file(self) -> Path | None:
        if self.generation is None:
            return None
        lock = self.generation / LOCK_FILE
        return lock if lock.is_file() else None

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
) -> list[str] | None:
    """The requirements to sync before the run, or None when the run syncs nothing."""
    from dioptra_plugins.sync.requirements import read_requirements_file

    if requirements:
        return list(requirements)
    if requirements_file is not None:
        return read_requirements_file(requirements_file)
    project_file = project_dir / PROJECT_PLUGINS_FILE
    if use_project_file and project_file.is_file():
        logger.info("using the plugin requirements in %s", project_file)
        return read_requirements_file(project_file)
    return None


@contextlib.contextmanager
def prepared_plugins(
    requirements: Sequence[str] | None,
    *,
    index: str | None,
    plugin_dir: Path | None,
) -> Iterator[RunPlugins]:
    """Sync ``requirements`` (if not None) into ``plugin_dir``, then pin its current generation.

    ``plugin_dir`` and ``index`` default to ``$DIOPTRA_PLUGIN_DIR`` and
    ``$DIOPTRA_PLUGINS_INDEX``.  The pin lasts until the block exits.
    """
    if plugin_dir is None and os.environ.get(PLUGIN_DIR_VARIABLE):
        plugin_dir = Path(os.environ[PLUGIN_DIR_VARIABLE])
    if requirements is not None:
        if plugin_dir is None:
            raise UsageError(
                "syncing plugins for the run needs a plugin dir: pass --plugin-dir or set "
                f"{PLUGIN_DIR_VARIABLE}"
            )
        _sync(requirements, index=index, plugin_dir=plugin_dir)
    if plugin_dir is None:
        yield RunPlugins(plugin_dir=None)
        return
    plugin_dir = plugin_dir.absolute()
    layout = PluginDirLayout(plugin_dir)
    generation = layout.current_generation()
    if generation is None:
        if not plugin_dir.is_dir():
            raise PluginDirError(f"{plugin_dir}: plugin dir does not exist")
        # A plain directory of plugin packages (a developer's checkout): nothing to pin.
        yield RunPlugins(plugin_dir=plugin_dir)
        return
    with pin_generation(layout, generation):
        # Pin first, then check: a gc that ran between reading `current` and pinning may have
        # collected the generation; after the pin no gc will.
        if not generation.is_dir():
            raise PluginDirError(
                f"{plugin_dir}: generation {generation.name} disappeared; run again"
            )
        logger.info("running on %s generation %s", plugin_dir, generation.name)
        yield RunPlugins(
            plugin_dir=plugin_dir, generation=generation, synced=requirements is not None
        )


def _sync(requirements: Sequence[str], *, index: str | None, plugin_dir: Path) -> None:
    from dioptra_plugins.sync import sync

    index = index or os.environ.get(INDEX_VARIABLE)
    if not index:
        raise UsageError(
            f"syncing plugins for the run needs an index: pass --index or set {INDEX_VARIABLE}"
        )
    result = sync(list(requirements), index=index, plugin_dir=plugin_dir)
    logger.info(
        "synced %s into %s: generation %s", ", ".join(requirements), plugin_dir, result.generation
    )
