"""Yank and unyank: mark every file of one version (not) to be chosen by default (PEP 592).

A yank is a root swap like a publish: a new project document with the flags changed, written
create-only, then one compare-and-swap of the root.  Nothing is deleted, so a lock that pins a
yanked version keeps working.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from dioptra_plugins.catalogue.site import update_site
from dioptra_plugins.errors import PublishError, UsageError
from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.keys import is_normalized_name
from dioptra_plugins.index.reading import DocumentCache, read_existing_root
from dioptra_plugins.index.simple import update_simple_pages
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.swap import change_root


@dataclass(frozen=True)
class YankResult:
    name: str
    version: str
    yanked: bool
    changed: bool
    """False when the version was already in the requested state (nothing written)."""
    serial: int


def parse_pin(pin: str) -> tuple[str, str]:
    """``NAME==VERSION`` -> (normalized name, normalized version); UsageError otherwise."""
    name, separator, version = pin.partition("==")
    name, version = name.strip(), version.strip()
    if not separator or not name or not version:
        raise UsageError(f"expected NAME==VERSION, got {pin!r}")
    normalized = canonicalize_name(name)
    if not is_normalized_name(normalized):
        raise UsageError(f"{name!r} is not a valid project name")
    try:
        parsed = Version(version)
    except InvalidVersion:
        raise UsageError(f"{version!r} is not a valid PEP 440 version") from None
    return normalized, str(parsed)


def set_yanked(
    storage: Storage, name: str, version: str, *, yanked: bool, reason: str | None = None
) -> YankResult:
    """Yank (or unyank) every file of ``name`` ``version``; PublishError if it is not there."""
    reason = reason if yanked else None
    wanted = Version(version)
    matched: list[str] = []

    def flip(root: RootDocument, documents: DocumentCache) -> Mapping[str, ProjectDocument]:
        document = documents.get(root, name)
        if document is None:
            raise PublishError(f"{name} is not in the index {storage.url}")
        # 1.1 and 1.1.0 are the same version (PEP 440), whatever the index spells.
        files = [f for f in document.files if Version(f.version) == wanted]
        if not files:
            known = ", ".join(document.versions()) or "none"
            raise PublishError(f"{name} has no version {version} (versions: {known})")
        matched[:] = [files[0].version]
        if all(f.yanked == yanked and f.yanked_reason == reason for f in files):
            return {}
        updated = [
            dataclasses.replace(f, yanked=yanked, yanked_reason=reason) if f in files else f
            for f in document.files
        ]
        return {name: document.with_files(updated)}

    swap = change_root(storage, flip, first=read_existing_root(storage))
    if swap.swapped:
        update_simple_pages(storage, swap.root, swap.changed, swap.new_projects)
        update_site(storage, swap.root, swap.changed)  # the catalogue's touched pages
    return YankResult(name, matched[0], yanked, swap.swapped, swap.root.serial)
