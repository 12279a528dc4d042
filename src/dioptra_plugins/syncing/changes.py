"""What a sync changes: the old generation's packages against the new set (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from dioptra_plugins.plugindir.pylock import LockedPackage


@dataclass(frozen=True)
class Changes:
    """Package name -> version; ``upgraded`` maps to (old, new) (a changed bundle, same name)."""

    installed: dict[str, str] = field(default_factory=dict)
    upgraded: dict[str, tuple[str, str]] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    unchanged: dict[str, str] = field(default_factory=dict)

    @property
    def any(self) -> bool:
        return bool(self.installed or self.upgraded or self.removed)


def plan_changes(old: Mapping[str, tuple[str, str]], new: Iterable[LockedPackage]) -> Changes:
    """Compare ``old`` (name -> (version, bundle sha256)) with ``new`` by bundle sha256: a
    rebuilt bundle with the same version is an upgrade too."""
    after = {p.name: p for p in new}
    changes = Changes()
    for name, package in after.items():
        previous = old.get(name)
        if previous is None:
            changes.installed[name] = package.version
        elif previous[1] != package.sha256:
            changes.upgraded[name] = (previous[0], package.version)
        else:
            changes.unchanged[name] = package.version
    changes.removed.update({name: pair[0] for name, pair in old.items() if name not in after})
    return changes
