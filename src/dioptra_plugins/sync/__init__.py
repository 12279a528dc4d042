"""Sync: resolve, download, verify and switch a plugin dir atomically (DESIGN §5).

``sync`` is both this subpackage and the function users call (``from dioptra_plugins import
sync; sync([...])``).  Python binds the subpackage to the name ``dioptra_plugins.sync`` as soon
as anything under it is imported, so rather than fight that, this module object is itself
callable and forwards to :func:`dioptra_plugins.sync.engine.sync`.  The other public names are
imported lazily, which keeps ``import dioptra_plugins`` fast::

    from dioptra_plugins.sync import sync, list_plugins, verify, rollback, gc
"""

from __future__ import annotations

import sys
import types
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dioptra_plugins.sync.engine import SyncResult, sync
    from dioptra_plugins.sync.gc import GcResult, gc
    from dioptra_plugins.sync.maintenance import list_plugins, rollback
    from dioptra_plugins.sync.verify_dir import VerifyReport, verify

__all__ = [
    "GcResult",
    "SyncResult",
    "VerifyReport",
    "gc",
    "list_plugins",
    "rollback",
    "sync",
    "verify",
]

_HOMES = {
    "sync": "engine",
    "SyncResult": "engine",
    "gc": "gc",
    "GcResult": "gc",
    "list_plugins": "maintenance",
    "rollback": "maintenance",
    "verify": "verify_dir",
    "VerifyReport": "verify_dir",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    from importlib import import_module

    return getattr(import_module(f"{__name__}.{home}"), name)


class _CallableModule(types.ModuleType):
    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        from dioptra_plugins.sync.engine import sync

        return sync(*args, **kwargs)


sys.modules[__name__].__class__ = _CallableModule
