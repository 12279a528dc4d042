"""Reading a consistent snapshot of an index: the root, then the documents it pins."""

from __future__ import annotations

from dataclasses import dataclass

from dioptra_plugins.errors import IndexFormatError, ObjectNotFoundError
from dioptra_plugins.index.documents import ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.storage import Storage


@dataclass(frozen=True)
class RootSnapshot:
    """A root as read, with the ETag a compare-and-swap must present (None: no root yet)."""

    root: RootDocument
    etag: str | None

    @property
    def exists(self) -> bool:
        return self.etag is not None


def read_root(storage: Storage) -> RootSnapshot:
    """The current root; an index without one reads as empty (serial 0) so publish can init."""
    try:
        stored = storage.get(ROOT_KEY)
    except ObjectNotFoundError:
        return RootSnapshot(RootDocument.empty(), None)
    return RootSnapshot(
        RootDocument.from_bytes(stored.data, what=f"{storage.url}/{ROOT_KEY}"), stored.etag
    )


def read_project(storage: Storage, name: str, entry: ProjectEntry) -> ProjectDocument:
    """The project document ``entry`` pins, checked against its sha256 and name."""
    what = f"{storage.url}/{entry.document}"
    try:
        stored = storage.get(entry.document)
    except ObjectNotFoundError:
        raise IndexFormatError(
            f"{what}: the project document of {name!r} that index.json points at is missing"
        ) from None
    document = ProjectDocument.from_bytes(stored.data, entry.sha256, what=what)
    if document.name != name:
        raise IndexFormatError(f"{what}: names project {document.name!r}, expected {name!r}")
    return document
