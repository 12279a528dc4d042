"""Reading a consistent snapshot of an index: the root, then the documents it pins.

:class:`DocumentCache` is the one reader of project documents (publish, yank and sync all go
through it): documents are immutable and named by their sha256, so one read of each is enough
for a process, and a sync keeps them on disk (``cache/documents/``) for the next one.
"""

from __future__ import annotations

import contextlib
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path

from dioptra_plugins.errors import IndexFormatError, ObjectNotFoundError
from dioptra_plugins.fsutil import write_atomic
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.storage import Storage


@dataclass(frozen=True)
class RootSnapshot:
    """A root as read, with the ETag a compare-and-swap must present (None: no root yet)."""

    root: RootDocument
    etag: str | None
    sha256: str | None = None
    """Of the root's bytes as read (None: not read here), which name its document pack."""

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
        RootDocument.from_bytes(stored.data, what=f"{storage.url}/{ROOT_KEY}"),
        stored.etag,
        sha256_hex(stored.data),
    )


def read_existing_root(storage: Storage) -> RootSnapshot:
    """The current root, for readers: a missing one is an error that says so.

    (:func:`read_root` reads a missing root as empty, which only a writer creating the index
    wants; to a reader, a typo in the URL must not look like an empty index.)
    """
    snapshot = read_root(storage)
    if not snapshot.exists:
        raise ObjectNotFoundError(key=ROOT_KEY, url=storage.url, no_index=True)
    return snapshot


def read_project(storage: Storage, name: str, entry: ProjectEntry) -> ProjectDocument:
    """The project document ``entry`` pins, checked against its sha256 and name."""
    return read_project_and_bytes(storage, name, entry)[0]


def read_project_and_bytes(
    storage: Storage, name: str, entry: ProjectEntry
) -> tuple[ProjectDocument, bytes]:
    """:func:`read_project`, with the document's exact bytes (for whoever hashes or signs them)."""
    what = f"{storage.url}/{entry.document}"
    data = _project_bytes(storage, name, entry)
    return checked_project(data, name, entry, what), data


def _project_bytes(storage: Storage, name: str, entry: ProjectEntry) -> bytes:
    try:
        return storage.get(entry.document).data
    except ObjectNotFoundError:
        raise IndexFormatError(
            f"{storage.url}/{entry.document}: the project document of {name!r} that index.json "
            "points at is missing"
        ) from None


def checked_project(data: bytes, name: str, entry: ProjectEntry, what: str) -> ProjectDocument:
    """``data`` parsed as the document ``entry`` pins for project ``name`` (its sha256, its
    name), or IndexFormatError saying what (``what``: where the bytes came from) is wrong."""
    document = ProjectDocument.from_bytes(data, entry.sha256, what=what)
    if document.name != name:
        raise IndexFormatError(f"{what}: names project {document.name!r}, expected {name!r}")
    return document


class DocumentCache:
    """Project documents of one index by sha256, read at most once; thread-safe.

    With a ``directory``, documents found there are used after their sha256 is checked again
    (nothing on disk is trusted), and documents fetched are written there only by
    :meth:`keep_fetched`, so that a sync that fails leaves the directory as it was.
    """

    def __init__(self, storage: Storage, directory: Path | None = None) -> None:
        self.storage = storage
        self.directory = directory
        self._documents: dict[str, ProjectDocument] = {}
        self._fetched: dict[str, bytes] = {}  # sha256 -> bytes not yet in the directory
        self._offered: dict[str, bytes] = {}  # sha256 -> bytes from a pack, not yet parsed
        self._lock = threading.Lock()

    def offer(self, documents: dict[str, bytes]) -> None:
        """Documents read by other means (a pack), by sha256: :meth:`get` takes one instead of
        a request, as fetched, and checks it as it would check the bytes of the request."""
        with self._lock:
            self._offered.update(documents)

    def get(self, root: RootDocument, name: str) -> ProjectDocument | None:
        """The document ``root`` pins for ``name``, or None when it lists no such project.

        Cost: none when read before or offered; else one file read, or one request.
        """
        entry = root.projects.get(name)
        if entry is None:
            return None
        with self._lock:
            document = self._documents.get(entry.sha256)
        if document is not None:
            return document
        data = self._from_directory(entry.sha256)
        fetched = data is None
        if data is None:
            with self._lock:
                data = self._offered.pop(entry.sha256, None)
        if data is None:
            data = _project_bytes(self.storage, name, entry)
        document = checked_project(data, name, entry, f"{self.storage.url}/{entry.document}")
        if fetched and self.directory is not None:
            with self._lock:
                self._fetched[entry.sha256] = data
        with self._lock:
            self._documents[entry.sha256] = document
        return document

    def keep_fetched(self) -> None:
        """Write the documents fetched so far into the directory (a sync calls this on success)."""
        if self.directory is None:
            return
        with self._lock:
            fetched, self._fetched = self._fetched, {}
        with contextlib.suppress(OSError):  # only a cache: nobody may fail for it
            self.directory.mkdir(parents=True, exist_ok=True)
            for sha256, data in fetched.items():
                # Not durable: a document lost or torn in a crash fails its sha256 on the next
                # read and is fetched again; hundreds of fsyncs would cost every sync.  The
                # temporary is named as remove_leftovers collects it in this directory.
                write_atomic(
                    self.directory / f"{sha256}.json",
                    data,
                    durable=False,
                    temporary=f".tmp-{secrets.token_hex(6)}",
                )

    def _from_directory(self, sha256: str) -> bytes | None:
        if self.directory is None:
            return None
        try:
            data = (self.directory / f"{sha256}.json").read_bytes()
        except OSError:
            return None
        return data if sha256_hex(data) == sha256 else None
