"""Yank and unyank: mark every file of one version (not) to be chosen by default (PEP 592).

A yank is a root swap like a publish: a new project document with the flags changed, written
create-only, then one compare-and-swap of the root.  Nothing is deleted, so a lock that pins a
yanked version keeps working.  On a signed index it is signed like a publish (``keys``), or
refused before anything is written.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from dioptra_plugins.errors import PublishError, UsageError
from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.keys import is_normalized_name
from dioptra_plugins.index.reading import DocumentCache, read_existing_root
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.swap import change_root
from dioptra_plugins.publishing.after_swap import finish_swap
from dioptra_plugins.signing import open_writer

if TYPE_CHECKING:
    import os

    from dioptra_plugins.signing.outcome import SignResult


@dataclass(frozen=True)
class YankResult:
    name: str
    version: str
    yanked: bool
    changed: bool
    """False when the version was already in the requested state (nothing written)."""
    serial: int
    signed: SignResult | None = None
    """What was signed (None: an unsigned index, or nothing changed)."""


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


def normalize_pin(name: str, version: str) -> tuple[str, str]:
    """(normalized name, normalized version); UsageError when either is malformed."""
    return parse_pin(f"{name}=={version}")


def set_yanked(
    storage: Storage,
    name: str,
    version: str,
    *,
    yanked: bool,
    reason: str | None = None,
    keys: str | os.PathLike[str] | None = None,
) -> YankResult:
    """Yank (or unyank) every file of ``name`` ``version``; PublishError if it is not there.

    ``keys``: the key directory of a signed index (SigningError without it, before anything
    is written).
    """
    reason = reason if yanked else None
    writer = open_writer(storage, keys, action="unyank" if not yanked else "yank")
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

    first = read_existing_root(storage)
    if writer is not None:
        writer.check(first)  # before any write
    swap = change_root(
        storage,
        flip,
        first=first,
        before_replace=writer.before_replace if writer else None,
    )
    signed = finish_swap(storage, swap, writer)
    return YankResult(name, matched[0], yanked, swap.swapped, swap.root.serial, signed)
