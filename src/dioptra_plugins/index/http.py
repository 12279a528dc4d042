"""A read-only index over HTTP(S): the same keys, served by a static host or a CDN.

Worker fleets read from a web server or CDN in front of the bucket, with no credentials.  Every
read a sync makes works: a GET of ``index.json`` (conditional: ``If-None-Match`` when the
server gave an ETag, so a no-op sync is still exactly one request, a 304 without a body), and
streaming GETs of the immutable documents and bundles, which sync checks against the sha256
the root pins, so a cache or CDN in between can never make it install different bytes.

A server that sends no ETag (Python's ``http.server``, some CDNs) gets a plain GET each time;
the "ETag" of such a root is the sha256 of its bytes, so an unchanged root is still recognised
(one request, with a body).  Writes are refused: publish to the bucket or directory behind it.

Reads go on urllib3 (:mod:`~dioptra_plugins.index.http_pool`): one pool per index, connection
reuse, connect and read timeouts from :func:`~dioptra_plugins.index.timeouts.index_timeout`,
and urllib3's own retries with backoff for connection errors and 5xx answers (each logged).
The one exception is a storage's first request when it is the root's conditional GET, a
no-op sync's only request: it goes on the standard library
(:mod:`~dioptra_plugins.index.http_first`), so a no-op never imports urllib3; any answer but
304 or a complete 200 is made again on the pool.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from typing import TYPE_CHECKING, BinaryIO, NoReturn
from urllib.parse import quote, urlsplit

from dioptra_plugins.errors import StorageError, UsageError
from dioptra_plugins.index.counting import RequestCounter
from dioptra_plugins.index.http_first import conditional_get
from dioptra_plugins.index.keys import ROOT_KEY, check_key
from dioptra_plugins.index.storage import NotModified, ObjectInfo, StoredObject, WholeObject

if TYPE_CHECKING:
    from dioptra_plugins.index.http_pool import PooledReads

logger = logging.getLogger(__name__)

_CONTENT_HASH_PREFIX = "sha256:"
"""Marks an "ETag" we made from the body because the server sent none."""


def _content_etag(data: bytes) -> str:
    """The "ETag" of an answer that carried none: the sha256 of its bytes."""
    from dioptra_plugins.hashing import sha256_hex  # not at the top: a no-op sync never needs it

    return _CONTENT_HASH_PREFIX + sha256_hex(data)


class HTTPStorage:
    """The index under ``url`` (``http://host:port/prefix/`` or ``https://...``), read-only.

    Costs: every call is one HTTP request (retries aside); ``list`` is not available (a static
    host has no listing) and writes raise StorageError.
    """

    def __init__(self, url: str, *, timeout: float) -> None:
        # Checked here, so a bad host or port is a usage error now, not a failed read three
        # retries later; urllib3's own parser checks it again when the pool is built.
        try:
            parts = urlsplit(url)
            port = parts.port
        except ValueError as error:
            raise UsageError(f"malformed HTTP index URL {url!r}: {error}") from None
        if parts.scheme not in ("http", "https") or not parts.netloc or not parts.hostname:
            raise UsageError(f"malformed HTTP index URL {url!r}: expected http(s)://host/prefix/")
        if port == 0:
            raise UsageError(
                f"malformed HTTP index URL {url!r}: port 0 is not a port to connect to"
            )
        if any(character.isspace() or ord(character) < 0x20 for character in url):
            raise UsageError(f"malformed HTTP index URL {url!r}: blank or control character")
        if parts.query or parts.fragment:
            raise UsageError(f"malformed HTTP index URL {url!r}: no query or fragment allowed")
        self.url = url
        self._base = url.rstrip("/") + "/"
        self._timeout = timeout
        self._counter = RequestCounter()
        self._lock = threading.Lock()
        self._pooled: PooledReads | None = None
        self._first_request = True

    @property
    def requests(self) -> int:
        return self._counter.value

    # --- the Storage interface (reads) -------------------------------------------------------

    def prepare(self) -> None:
        """Nothing to create on a read-only host; one GET says whether the index is there."""
        self.get(ROOT_KEY)

    def get(self, key: str) -> StoredObject:
        response = self._pool(key).request(key, {}, preload=True)
        data = response.data
        etag = response.headers.get("ETag") or _content_etag(data)
        return StoredObject(key, data, etag)

    def get_if_changed(self, key: str, etag: str) -> StoredObject | NotModified:
        headers = {} if etag.startswith(_CONTENT_HASH_PREFIX) else {"If-None-Match": etag}
        first = self._first_get(key, headers)
        if first is not None:
            status, found, data = first
        else:
            response = self._pool(key).request(key, headers, preload=True)
            status, found, data = response.status, response.headers.get("ETag"), response.data
        if status == 304:
            return NotModified(key, etag)
        found = found or _content_etag(data)
        if found == etag:
            return NotModified(key, etag)
        return StoredObject(key, data, found)

    def open(self, key: str) -> BinaryIO:
        return self._pool(key).stream(key)

    def read_tail(self, key: str, length: int) -> bytes | WholeObject | None:
        return self._pool(key).tail(key, length)

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        raise StorageError(
            f"{self.url} is an HTTP index: it cannot be listed (use the bucket or directory "
            "behind it)"
        )

    def put_new(self, key: str, data: bytes | BinaryIO) -> str:
        self._read_only("write", key)

    def replace(self, key: str, data: bytes, if_match: str | None) -> str:
        self._read_only("write", key)

    # --- helpers -------------------------------------------------------------------------------

    def _read_only(self, action: str, key: str) -> NoReturn:
        raise StorageError(
            f"cannot {action} {key}: {self.url} is a read-only HTTP index; publish to the bucket "
            "or directory it serves"
        )

    def _first_get(self, key: str, headers: dict[str, str]) -> tuple[int, str | None, bytes] | None:
        """The storage's first request, when it is this conditional GET, on the standard
        library; None when it is not the first, or its answer is the pool's to give."""
        with self._lock:
            first, self._first_request = self._first_request, False
        if not first or self._pooled is not None:
            return None
        check_key(key)
        url = self._base + quote(key)
        self._counter.add()
        answer = conditional_get(url, headers, timeout=self._timeout)
        if isinstance(answer, str):
            logger.debug("GET %s: %s; making it again on the connection pool", url, answer)
            return None
        return answer.status, answer.etag, answer.body

    def _pool(self, key: str) -> PooledReads:
        """The urllib3 pool, built (and urllib3 imported) on the first read that needs it."""
        check_key(key)
        with self._lock:
            self._first_request = False
            if self._pooled is None:
                from dioptra_plugins.index.http_pool import PooledReads

                self._pooled = PooledReads(self.url, timeout=self._timeout, counter=self._counter)
            return self._pooled
