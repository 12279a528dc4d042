"""The public face (DESIGN §9): the promised names, and a cheap ``import dioptra_plugins``."""

from __future__ import annotations

import subprocess
import sys


def test_promised_names() -> None:
    import dioptra_plugins
    from dioptra_plugins import DioptraPluginsError, Registry, plugin_dirs, pyplugs, watch
    from dioptra_plugins.errors import DioptraPluginsError as Root
    from dioptra_plugins.plugindir.syspath import plugin_dirs as real_plugin_dirs
    from dioptra_plugins.registry.registry import Registry as RealRegistry
    from dioptra_plugins.registry.watcher import watch as real_watch

    assert DioptraPluginsError is Root
    assert Registry is RealRegistry is pyplugs.Registry
    assert plugin_dirs is real_plugin_dirs
    assert watch is real_watch
    assert dioptra_plugins.watch is real_watch  # not shadowed by a submodule
    assert callable(pyplugs.register)


def test_import_stays_light() -> None:
    code = (
        "import sys, dioptra_plugins; from dioptra_plugins import pyplugs;"
        "heavy = [m for m in ('watchdog', 'prefect', 'boto3', 'click') if m in sys.modules];"
        "print(','.join(heavy))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_sync_is_a_real_function() -> None:
    import inspect

    import dioptra_plugins
    from dioptra_plugins import SyncResult, sync
    from dioptra_plugins.syncing import engine

    assert sync is engine.sync is dioptra_plugins.sync
    assert inspect.isfunction(sync)
    parameters = inspect.signature(sync).parameters
    assert list(parameters)[:3] == ["requirements", "index", "plugin_dir"]
    assert SyncResult is engine.SyncResult


def test_the_index_writes_are_public_functions_not_submodules() -> None:
    """``dioptra_plugins.publish`` & co. (issue 21): real functions, in ``__all__``, and
    importing them does not import TUF (a publish to an unsigned index never needs it)."""
    code = (
        "import sys, dioptra_plugins;"
        "from dioptra_plugins import publish, yank, unyank, refresh, renew, init_index;"
        "from dioptra_plugins.publishing import operations;"
        "assert publish is operations.publish and dioptra_plugins.publish is publish;"
        "assert set(dioptra_plugins.__all__) >= {'publish', 'yank', 'unyank', 'refresh',"
        " 'renew', 'init_index', 'sync'};"
        "print(','.join(m for m in ('tuf', 'securesystemslib', 'boto3') if m in sys.modules))"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == ""


def test_no_submodule_hides_a_public_name() -> None:
    # ``import dioptra_plugins.x`` sets the package's attribute ``x`` to the module: a public
    # function named like a submodule would be replaced by it.
    import pkgutil

    import dioptra_plugins
    from dioptra_plugins.index.connections import IndexConnections

    submodules = {module.name for module in pkgutil.iter_modules(dioptra_plugins.__path__)}
    assert submodules & set(dioptra_plugins.__all__) == {"pyplugs"}
    assert dioptra_plugins.IndexConnections is IndexConnections
