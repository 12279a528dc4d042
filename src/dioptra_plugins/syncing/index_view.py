"""A sync's read-only view of one index snapshot: the root it accepted and project documents.

Project documents are immutable and named by their sha256, so they are cached in
``cache/documents/<sha256>.json`` (once the sync succeeded) and reused by later syncs (a sync
after one publish fetches one document, not all of them).  Every document, fetched or cached,
is checked against the sha256 the root gives for it before it is used.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.packs import PACK_FROM, pack_lines
from dioptra_plugins.index.reading import DocumentCache
from dioptra_plugins.index.storage import Storage

logger = logging.getLogger(__name__)


class IndexView:
    """One root snapshot of ``storage`` plus its project documents, read through one cache."""

    def __init__(
        self,
        storage: Storage,
        root: RootDocument,
        cache_dir: Path | None,
        known: dict[str, ProjectDocument] | None = None,
        root_sha256: str | None = None,
    ) -> None:
        """``known``: documents read before in this process, by sha256 (see
        ``IndexConnections.documents``); those read here are added to it.  ``root_sha256``: of
        the root's exact bytes, which names its document pack (None: read no pack)."""
        self.storage = storage
        self.root = root
        self.root_sha256 = root_sha256
        self._documents = DocumentCache(storage, cache_dir)
        self._cache_dir = cache_dir
        self._known = known

    @property
    def url(self) -> str:
        return self.storage.url

    def has_project(self, name: str) -> bool:
        return name in self.root.projects

    def project(self, name: str) -> ProjectDocument:
        """The document of project ``name`` (normalized); it must be in the root."""
        entry = self.root.projects.get(name)
        if entry is not None and self._known is not None:
            known = self._known.get(entry.sha256)
            if known is not None:
                return known
        document = self._documents.get(self.root, name)
        if document is None or entry is None:
            raise KeyError(name)
        if self._known is not None:
            self._known[entry.sha256] = document
        return document

    def prefetch(self, names: Iterable[str], jobs: int) -> None:
        """Read the documents of ``names`` (those in the root): the ones the on-disk cache has
        in this thread, then those the root's pack holds (:mod:`dioptra_plugins.index.packs`),
        the others fetched in parallel.

        Why not all in the pool: reading, hashing and parsing a cached document holds the GIL
        for most of its 0.08 ms, so threads only add their hand-offs (400 cached documents: 35
        ms in this thread, 80 ms through a pool of 8).  Only requests wait on the network.
        A cached document is checked against the root's sha256 as before; one that fails the
        check is fetched, and then the rest go to the pool too: a cache torn by a crash costs
        no more round trips one after the other than it did.
        """
        wanted = sorted({n for n in names if self.has_project(n) and not self._is_known(n)})
        cached = self._cached_sha256s() if len(wanted) > 1 else set()
        remote = []
        for position, name in enumerate(wanted):
            if self.root.projects[name].sha256 not in cached:
                remote.append(name)
                continue
            before = self.storage.requests
            self.project(name)
            if self.storage.requests != before:  # the copy failed its check: it was fetched
                remote.extend(wanted[position + 1 :])
                break
        remote = self._unpacked(remote)
        if len(remote) <= 1:
            for name in remote:
                self.project(name)
            return
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(remote)))) as pool:
            list(pool.map(self.project, remote))

    def _unpacked(self, remote: list[str]) -> list[str]:
        """Read the documents of ``remote`` that the root's pack holds (one request, when many
        are wanted: at least PACK_FROM and half the root's); returns the names left to fetch."""
        projects = self.root.projects
        if self.root_sha256 is None or len(remote) < max(PACK_FROM, len(projects) / 2):
            return remote
        wanted = {projects[name].sha256: name for name in remote}
        found = pack_lines(self.storage, self.root_sha256, wanted)
        if not found:
            return remote
        self._documents.offer(found)
        for sha256 in found:
            self.project(wanted[sha256])
        return [name for name in remote if projects[name].sha256 not in found]

    def _cached_sha256s(self) -> set[str]:
        """The sha256 names of the documents in the on-disk cache (one directory listing; what
        a name promises is checked when the document is read)."""
        if self._cache_dir is None:
            return set()
        try:
            return {
                entry.name[: -len(".json")]
                for entry in os.scandir(self._cache_dir)
                if entry.name.endswith(".json")
            }
        except OSError:
            return set()

    def _is_known(self, name: str) -> bool:
        return self._known is not None and self.root.projects[name].sha256 in self._known

    def keep_fetched(self) -> None:
        """Keep the documents fetched in the on-disk cache (after the sync succeeded).

        Deferred to here so that a refused sync leaves the plugin dir byte-identical.
        """
        self._documents.keep_fetched()
