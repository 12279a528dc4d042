"""Create an empty index (``index init``); publish does the same lazily on first use."""

from __future__ import annotations

from dataclasses import dataclass

from dioptra_plugins.errors import ConflictError
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.reading import read_root
from dioptra_plugins.index.simple import update_simple_pages
from dioptra_plugins.index.storage import Storage


@dataclass(frozen=True)
class InitResult:
    url: str
    created: bool
    """False when an index was already there (it is left untouched)."""
    serial: int


def init_index(storage: Storage) -> InitResult:
    """Write an empty root (serial 0) unless one exists; a damaged root is IndexFormatError."""
    storage.prepare()
    snapshot = read_root(storage)
    if snapshot.exists:
        return InitResult(storage.url, False, snapshot.root.serial)
    root = RootDocument.empty()
    try:
        storage.replace(ROOT_KEY, root.to_bytes(), None)
    except ConflictError:
        # Someone initialised (or published to) it a moment ago: fine, and it must be valid.
        return InitResult(storage.url, False, read_root(storage).root.serial)
    update_simple_pages(storage, root, ())
    return InitResult(storage.url, True, root.serial)
