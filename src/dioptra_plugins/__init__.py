"""dioptra-plugins: versioned, verified, atomically synced task plugins."""

__version__ = "0.1.0"

# Every public name is imported on first use, so that ``import dioptra_plugins`` stays fast.
from typing import TYPE_CHECKING as _TYPE_CHECKING

if _TYPE_CHECKING:
    from dioptra_plugins import pyplugs as pyplugs
    from dioptra_plugins.errors import DioptraPluginsError as DioptraPluginsError
    from dioptra_plugins.plugindir.syspath import plugin_dirs as plugin_dirs
    from dioptra_plugins.registry import Registry as Registry
    from dioptra_plugins.syncing.engine import SyncResult as SyncResult
    from dioptra_plugins.syncing.engine import sync as sync
    from dioptra_plugins.watcher import watch as watch

_LAZY = {
    "sync": ("dioptra_plugins.syncing.engine", "sync"),
    "SyncResult": ("dioptra_plugins.syncing.engine", "SyncResult"),
    "pyplugs": ("dioptra_plugins.pyplugs", None),
    "plugin_dirs": ("dioptra_plugins.plugindir.syspath", "plugin_dirs"),
    "watch": ("dioptra_plugins.watcher", "watch"),
    "Registry": ("dioptra_plugins.registry", "Registry"),
    "DioptraPluginsError": ("dioptra_plugins.errors", "DioptraPluginsError"),
}


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module_path, attribute = _LAZY[name]
        module = importlib.import_module(module_path)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'dioptra_plugins' has no attribute {name!r}")
