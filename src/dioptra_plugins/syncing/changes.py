"""What a sync changes: the old generation's packages against the new set (pure, no I/O)."""

from __future__ import annotations

from collections.abc import Iterable
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


def plan_changes(old: Iterable[LockedPackage], new: Iterable[LockedPackage]) -> Changes:
    """Compare by bundle sha256: a rebuilt bundle with the same version is an upgrade too."""
    before = {p.name: p for p in old}
    after = {p.name: p for p in new}
    changes = Changes()
    for name, package in after.items():
        previous = before.get(name)
        if previous is None:
            changes.installed[name] = package.version
        elif previous.sha256 != package.sha256:
            changes.upgraded[name] = (previous.version, package.version)
        else:
            changes.unchanged[name] = package.version
    changes.removed.update({name: p.version for name, p in before.items() if name not in after})
    return changes
