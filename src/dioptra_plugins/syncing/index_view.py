"""A sync's read-only view of one index snapshot: the root it accepted and project documents.

Project documents are immutable and named by their sha256, so they are cached in
``cache/documents/<sha256>.json`` (once the sync succeeded) and reused by later syncs (a sync
after one publish fetches one document, not all of them).  Every document, fetched or cached,
is checked against the sha256 the root gives for it before it is used.
"""

from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import secrets
import threading
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dioptra_plugins.errors import IndexFormatError, ObjectNotFoundError
from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.storage import Storage

logger = logging.getLogger(__name__)


class IndexView:
    """One root snapshot of ``storage`` plus the project documents fetched so far."""

    def __init__(self, storage: Storage, root: RootDocument, cache_dir: Path | None) -> None:
        self.storage = storage
        self.root = root
        self.cache_dir = cache_dir
        self._documents: dict[str, ProjectDocument] = {}
        self._fetched: dict[str, bytes] = {}  # sha256 -> bytes, not yet in the cache
        self._lock = threading.Lock()

    @property
    def url(self) -> str:
        return self.storage.url

    def has_project(self, name: str) -> bool:
        return name in self.root.projects

    def project(self, name: str) -> ProjectDocument:
        """The document of project ``name`` (normalized); it must be in the root."""
        with self._lock:
            cached = self._documents.get(name)
        if cached is not None:
            return cached
        entry = self.root.projects[name]
        data = self._cached_bytes(entry.sha256)
        if data is None:
            try:
                fetched = self.storage.get(entry.document)
            except ObjectNotFoundError as error:
                raise IndexFormatError(
                    f"the root of {self.url} names {entry.document} for {name}, which is missing"
                ) from error
            data = fetched.data
        document = ProjectDocument.from_bytes(
            data, expected_sha256=entry.sha256, what=f"{self.url}/{entry.document}"
        )
        if document.name != name:
            raise IndexFormatError(
                f"{entry.document} describes project {document.name!r}, not {name!r}"
            )
        self._remember(entry.sha256, data)
        with self._lock:
            self._documents[name] = document
        return document

    def prefetch(self, names: Iterable[str], jobs: int) -> None:
        """Fetch the documents of ``names`` (those in the root) in parallel."""
        wanted = sorted({n for n in names if self.has_project(n)} - self._documents.keys())
        if len(wanted) <= 1:
            for name in wanted:
                self.project(name)
            return
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(wanted)))) as pool:
            list(pool.map(self.project, wanted))

    def _cached_bytes(self, sha256: str) -> bytes | None:
        if self.cache_dir is None:
            return None
        try:
            data = (self.cache_dir / f"{sha256}.json").read_bytes()
        except OSError:
            return None
        return data if hashlib.sha256(data).hexdigest() == sha256 else None

    def _remember(self, sha256: str, data: bytes) -> None:
        if self.cache_dir is not None and not (self.cache_dir / f"{sha256}.json").exists():
            with self._lock:
                self._fetched[sha256] = data

    def keep_fetched(self) -> None:
        """Write the documents fetched so far into the cache (after the sync succeeded).

        Deferred to here so that a refused sync leaves the plugin dir byte-identical.
        """
        if self.cache_dir is None:
            return
        with self._lock:
            fetched, self._fetched = self._fetched, {}
        with contextlib.suppress(OSError):  # only a cache: a sync must not fail for it
            self.cache_dir.mkdir(parents=True, exist_ok=True)
            for sha256, data in fetched.items():
                tmp = self.cache_dir / f".tmp-{secrets.token_hex(6)}"
                tmp.write_bytes(data)
                os.replace(tmp, self.cache_dir / f"{sha256}.json")
