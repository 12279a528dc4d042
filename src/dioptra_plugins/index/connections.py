"""Open storages a caller holds: one per index URL (and timeout), reused until closed.

A long-lived worker (``dioptra-plugins-run``'s syncs, ``sync --every``) syncs from the same
index again and again; opening its storage once keeps the S3 client and its connection pool
(and the HTTP index's pool) warm, and keeping the project documents it read makes its next
one-bundle change read one document.  The owner of an :class:`IndexConnections` decides how
long that lasts and closes it; :func:`shared_connections` is the process's own (storages only),
used by callers that hold none (``sync()`` without ``connections``), and
``shared_connections().close()`` forgets it.
"""

from __future__ import annotations

import threading
from typing import TYPE_CHECKING

from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.timeouts import index_timeout

if TYPE_CHECKING:
    from dioptra_plugins.index.documents import ProjectDocument

_REMOTE_SCHEMES = ("s3://", "http://", "https://")
DOCUMENTS_KEPT = 4096
"""Project documents kept per index; past that the memory starts again from empty."""


class IndexConnections:
    """One storage per (index URL, timeout), opened on first use; safe to share across threads.

    The timeout is part of the key because a storage keeps the timeout it was opened with: a
    caller who changes it (``timeout=``, ``--timeout``, ``$DIOPTRA_PLUGINS_TIMEOUT``) gets a
    storage that uses it.  With ``keep_documents`` (the default) it also keeps the project
    documents read through it (:meth:`documents`); the process's own keeps none, so a caller
    that holds nothing reads them as before, from the plugin dir's cache or the index.
    """

    def __init__(self, *, keep_documents: bool = True) -> None:
        self._storages: dict[tuple[str, float | None], Storage] = {}
        self._documents: dict[str, dict[str, ProjectDocument]] = {}
        self._keep_documents = keep_documents
        self._lock = threading.Lock()

    def open(self, url: str, *, timeout: float | None = None) -> Storage:
        """The storage for ``url``: the one opened before with the same timeout, or a new one.

        Raises what :func:`dioptra_plugins.index.url.open_storage` raises for a bad URL.
        """
        # Only the network backends take a timeout (a local index never reads the setting).
        remote = url.startswith(_REMOTE_SCHEMES)
        key = (url, index_timeout(timeout) if remote else None)
        with self._lock:
            storage = self._storages.get(key)
            if storage is None:
                from dioptra_plugins.index.url import open_storage

                storage = self._storages[key] = open_storage(url, timeout=key[1])
            return storage

    def documents(self, url: str) -> dict[str, ProjectDocument] | None:
        """The project documents read from ``url`` so far, by sha256 (None: none are kept).

        Each was checked against its sha256 when read, and a document is immutable, so a root
        naming the same sha256 again names the same document: a worker's next sync reads only
        the changed ones."""
        if not self._keep_documents:
            return None
        with self._lock:
            known = self._documents.setdefault(url, {})
            if len(known) > DOCUMENTS_KEPT:
                known.clear()
            return known

    def __len__(self) -> int:
        with self._lock:
            return len(self._storages)

    def close(self) -> None:
        """Close every storage opened so far and forget them; the next :meth:`open` opens anew."""
        with self._lock:
            storages = list(self._storages.values())
            self._storages.clear()
            self._documents.clear()
        for storage in storages:
            close = getattr(storage, "close", None)
            if callable(close):
                close()

    def __enter__(self) -> IndexConnections:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


_shared = IndexConnections(keep_documents=False)


def shared_connections() -> IndexConnections:
    """The process's connections, for callers that hold none of their own."""
    return _shared
