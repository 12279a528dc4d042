"""A synced plugin dir's maintenance for Python callers: ``dioptra_plugins.verify``, ``gc``,
``rollback`` and ``list_plugins``.

``plugin_dir`` is the directory ``sync`` writes (default ``$DIOPTRA_PLUGINS_DIR``).  The
arguments are checked here and errors name these functions' parameters; the work is done
by ``plugindir.verify_dir``, ``plugindir.gc`` and ``plugindir.maintenance`` (imported on first
call, so that ``import dioptra_plugins`` stays light).
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

from dioptra_plugins.errors import UsageError

if TYPE_CHECKING:
    from dioptra_plugins.plugindir.gc import GcResult
    from dioptra_plugins.plugindir.verify_dir import VerifyReport

PluginDirArgument = str | os.PathLike[str]


def verify(plugin_dir: PluginDirArgument | None = None) -> VerifyReport:
    """Re-hash every file of the plugin dir's store and check every generation's links.

    Read-only (takes no lock).  What is wrong is in the report (``ok``, ``problems``);
    PluginDirError when ``plugin_dir`` is not a synced plugin dir.
    """
    from dioptra_plugins.plugindir import verify_dir

    return verify_dir.verify(plugin_dir)


def gc(
    plugin_dir: PluginDirArgument | None = None,
    *,
    keep: int = 3,
    dry_run: bool = False,
    lock_timeout: float = 60.0,
) -> GcResult:
    """Delete all but the ``keep`` newest generations, and the store entries none kept reaches.

    The current generation, the one before it, and generations pinned by running processes
    are kept whatever ``keep`` says.  ``dry_run`` reports what would go and deletes nothing.
    Fails closed: PluginDirError, and nothing deleted, when a kept generation or a pin cannot
    be read.  ``lock_timeout``: seconds to wait for the plugin dir's writer lock.
    """
    from dioptra_plugins.plugindir import gc as collecting

    if isinstance(keep, bool) or not isinstance(keep, int) or keep < 0:
        raise UsageError(
            f"`keep` must be a whole number, 0 or more, not {keep!r}", parameters=("keep",)
        )
    _check_timeout(lock_timeout)
    return collecting.gc(plugin_dir, keep, lock_timeout=lock_timeout, dry_run=dry_run)


def rollback(
    plugin_dir: PluginDirArgument | None = None,
    *,
    to: str | int | None = None,
    lock_timeout: float = 60.0,
) -> dict[str, str]:
    """Switch the plugin dir back to generation ``to`` (default: the newest one older than the
    current one), after checking that generation's files.

    Returns ``{"plugin_dir", "from", "to"}`` (generation names, ``"000002"``).  PluginDirError
    when there is no such generation, none older, or the target is damaged.
    """
    from dioptra_plugins.plugindir import maintenance

    if to is not None:
        text = str(to)
        if isinstance(to, bool) or not text.isdigit():
            raise UsageError(
                f"`to` is a generation number (2 or '000002'), not {to!r}", parameters=("to",)
            )
    _check_timeout(lock_timeout)
    return maintenance.rollback(plugin_dir, to, lock_timeout=lock_timeout)


def list_plugins(plugin_dir: PluginDirArgument | None = None) -> dict[str, Any]:
    """What the plugin dir's current generation holds.

    Returns ``{"plugin_dir", "generation", "index", "index_serial", "packages",
    "generations", "pinned"}``; each package has ``name``, ``version``, ``sha256``,
    ``package`` (its import name), ``filename``, ``tasks`` (from its manifest) and
    ``provenance``.  Read-only.
    """
    from dioptra_plugins.plugindir import maintenance

    return maintenance.list_plugins(plugin_dir)


def _check_timeout(lock_timeout: float) -> None:
    if not lock_timeout >= 0:  # also refuses NaN
        raise UsageError(
            f"`lock_timeout` must be 0 seconds or more, not {lock_timeout!r}",
            parameters=("lock_timeout",),
        )
