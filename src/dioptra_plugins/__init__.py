"""dioptra-plugins: versioned, verified, atomically synced task plugins."""

from dioptra_plugins.version import __version__ as __version__

# Every public name is imported on first use, so that ``import dioptra_plugins`` stays fast.
# Not typing.TYPE_CHECKING: importing typing costs ~8 ms of every start-up, and the console
# script installs its signal handlers only once this package is imported.
_TYPE_CHECKING = False

if _TYPE_CHECKING:
    from dioptra_plugins import pyplugs as pyplugs
    from dioptra_plugins.bundle.operations import build as build
    from dioptra_plugins.errors import DioptraPluginsError as DioptraPluginsError
    from dioptra_plugins.index.connections import IndexConnections as IndexConnections
    from dioptra_plugins.plugindir.operations import gc as gc
    from dioptra_plugins.plugindir.operations import list_plugins as list_plugins
    from dioptra_plugins.plugindir.operations import rollback as rollback
    from dioptra_plugins.plugindir.operations import verify as verify
    from dioptra_plugins.plugindir.syspath import plugin_dirs as plugin_dirs
    from dioptra_plugins.publishing.operations import check_index as check_index
    from dioptra_plugins.publishing.operations import init_index as init_index
    from dioptra_plugins.publishing.operations import publish as publish
    from dioptra_plugins.publishing.operations import refresh as refresh
    from dioptra_plugins.publishing.operations import renew as renew
    from dioptra_plugins.publishing.operations import repair as repair
    from dioptra_plugins.publishing.operations import unyank as unyank
    from dioptra_plugins.publishing.operations import yank as yank
    from dioptra_plugins.registry.registry import Registry as Registry
    from dioptra_plugins.registry.task_listing import tasks as tasks
    from dioptra_plugins.registry.watcher import watch as watch
    from dioptra_plugins.syncing.engine import SyncResult as SyncResult
    from dioptra_plugins.syncing.engine import sync as sync

_LAZY = {
    "sync": ("dioptra_plugins.syncing.engine", "sync"),
    "SyncResult": ("dioptra_plugins.syncing.engine", "SyncResult"),
    "IndexConnections": ("dioptra_plugins.index.connections", "IndexConnections"),
    "pyplugs": ("dioptra_plugins.pyplugs", None),
    "plugin_dirs": ("dioptra_plugins.plugindir.syspath", "plugin_dirs"),
    "watch": ("dioptra_plugins.registry.watcher", "watch"),
    "Registry": ("dioptra_plugins.registry.registry", "Registry"),
    "DioptraPluginsError": ("dioptra_plugins.errors", "DioptraPluginsError"),
    # The index's write operations (none is named like a submodule of this package, which the
    # import system would otherwise put in its place).
    "publish": ("dioptra_plugins.publishing.operations", "publish"),
    "yank": ("dioptra_plugins.publishing.operations", "yank"),
    "unyank": ("dioptra_plugins.publishing.operations", "unyank"),
    "refresh": ("dioptra_plugins.publishing.operations", "refresh"),
    "renew": ("dioptra_plugins.publishing.operations", "renew"),
    "repair": ("dioptra_plugins.publishing.operations", "repair"),
    "init_index": ("dioptra_plugins.publishing.operations", "init_index"),
    "check_index": ("dioptra_plugins.publishing.operations", "check_index"),
    # Building, and the plugin dir's maintenance (again none named like a submodule: no
    # ``dioptra_plugins/verify.py`` or ``gc.py`` may ever exist).
    "build": ("dioptra_plugins.bundle.operations", "build"),
    "verify": ("dioptra_plugins.plugindir.operations", "verify"),
    "gc": ("dioptra_plugins.plugindir.operations", "gc"),
    "rollback": ("dioptra_plugins.plugindir.operations", "rollback"),
    "list_plugins": ("dioptra_plugins.plugindir.operations", "list_plugins"),
    "tasks": ("dioptra_plugins.registry.task_listing", "tasks"),
}

__all__ = [  # noqa: RUF022 - grouped as DESIGN §9 lists them, then the life cycle's stages
    "pyplugs",
    "plugin_dirs",
    "sync",
    "SyncResult",
    "IndexConnections",
    "watch",
    "Registry",
    "DioptraPluginsError",
    "publish",
    "yank",
    "unyank",
    "refresh",
    "renew",
    "repair",
    "init_index",
    "check_index",
    "build",
    "verify",
    "gc",
    "rollback",
    "list_plugins",
    "tasks",
]


def __getattr__(name: str) -> object:
    if name in _LAZY:
        import importlib

        module_path, attribute = _LAZY[name]
        module = importlib.import_module(module_path)
        value = module if attribute is None else getattr(module, attribute)
        globals()[name] = value  # later lookups skip __getattr__
        return value
    raise AttributeError(f"module 'dioptra_plugins' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
