"""A read-only index over HTTP(S): the same keys, served by a static host or a CDN.

Worker fleets read from a web server or CDN in front of the bucket, with no credentials.  Every
read a sync makes works: a GET of ``index.json`` (conditional: ``If-None-Match`` when the
server gave an ETag, so a no-op sync is still exactly one request, a 304 without a body), and
streaming GETs of the immutable documents and bundles, which sync checks against the sha256
the root pins, so a cache or CDN in between can never make it install different bytes.

A server that sends no ETag (Python's ``http.server``, some CDNs) gets a plain GET each time;
the "ETag" of such a root is the sha256 of its bytes, so an unchanged root is still recognised
(one request, with a body).  Writes are refused: publish to the bucket or directory behind it.

Built on urllib3 (which botocore already brings): one pool per index, connection reuse,
connect and read timeouts from :func:`~dioptra_plugins.index.timeouts.index_timeout`, and
urllib3's own retries with backoff for connection errors and 5xx answers (each logged).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from types import TracebackType
from typing import Any, BinaryIO, NoReturn, Self, cast
from urllib.parse import quote, urlsplit

import urllib3
from urllib3.connectionpool import ConnectionPool
from urllib3.exceptions import (
    HTTPError,
    LocationParseError,
    MaxRetryError,
    NewConnectionError,
)
from urllib3.response import BaseHTTPResponse

from dioptra_plugins.errors import ObjectNotFoundError, StorageError, UsageError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.counting import RequestCounter
from dioptra_plugins.index.keys import ROOT_KEY, check_key
from dioptra_plugins.index.storage import NotModified, ObjectInfo, StoredObject

logger = logging.getLogger(__name__)

_ATTEMPTS = 3
_RETRY_STATUSES = frozenset({500, 502, 503, 504})
_CONTENT_HASH_PREFIX = "sha256:"
"""Marks an "ETag" we made from the body because the server sent none."""


class _LoggingRetry(urllib3.Retry):
    """urllib3's retry, with a warning for every retry (what, attempt n of m, and why)."""

    def increment(
        self,
        method: str | None = None,
        url: str | None = None,
        response: BaseHTTPResponse | None = None,
        error: Exception | None = None,
        _pool: ConnectionPool | None = None,
        _stacktrace: TracebackType | None = None,
    ) -> Self:
        retry = super().increment(method, url, response, error, _pool, _stacktrace)
        why = error or (response.status if response is not None else "")
        logger.warning(
            "retrying %s %s (attempt %d of %d) after %s",
            method or "GET",
            url or "",
            len(retry.history) + 1,
            _ATTEMPTS,
            why,
        )
        return retry


class HTTPStorage:
    """The index under ``url`` (``http://host:port/prefix/`` or ``https://...``), read-only.

    Costs: every call is one HTTP request (retries aside); ``list`` is not available (a static
    host has no listing) and writes raise StorageError.
    """

    def __init__(self, url: str, *, timeout: float) -> None:
        # Checked here with both parsers (ours and the one urllib3 applies to every request), so
        # a bad host or port is a usage error now, not a failed read three retries later.
        try:
            parts = urlsplit(url)
            port = parts.port
            urllib3.util.parse_url(url)
        except (ValueError, LocationParseError) as error:
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
        retry = _LoggingRetry(
            total=_ATTEMPTS - 1,
            connect=_ATTEMPTS - 1,
            read=_ATTEMPTS - 1,
            status=_ATTEMPTS - 1,
            status_forcelist=_RETRY_STATUSES,
            allowed_methods=frozenset({"GET", "HEAD"}),
            backoff_factor=0.2,
            raise_on_status=False,
            redirect=3,
        )
        self._pool = urllib3.PoolManager(
            num_pools=4,
            maxsize=16,
            retries=retry,
            timeout=urllib3.Timeout(connect=timeout, read=timeout),
            headers={"User-Agent": "dioptra-plugins"},
        )
        self._counter = RequestCounter()

    @property
    def requests(self) -> int:
        return self._counter.value

    # --- the Storage interface (reads) -------------------------------------------------------

    def prepare(self) -> None:
        """Nothing to create on a read-only host; one GET says whether the index is there."""
        self.get(ROOT_KEY)

    def get(self, key: str) -> StoredObject:
        response = self._request(key, {}, preload=True)
        data = response.data
        etag = response.headers.get("ETag") or _CONTENT_HASH_PREFIX + sha256_hex(data)
        return StoredObject(key, data, etag)

    def get_if_changed(self, key: str, etag: str) -> StoredObject | NotModified:
        headers = {} if etag.startswith(_CONTENT_HASH_PREFIX) else {"If-None-Match": etag}
        response = self._request(key, headers, preload=True)
        if response.status == 304:
            return NotModified(key, etag)
        data = response.data
        found = response.headers.get("ETag") or _CONTENT_HASH_PREFIX + sha256_hex(data)
        if found == etag:
            return NotModified(key, etag)
        return StoredObject(key, data, found)

    def open(self, key: str) -> BinaryIO:
        response = self._request(key, {}, preload=False)
        return cast(BinaryIO, _ClosingStream(response))

    def read_tail(self, key: str, length: int) -> bytes | None:
        response = self._request(key, {"Range": f"bytes=-{length}"}, preload=False)
        if response.status != 206:
            # The host ignored the range and started sending the whole object: drop the
            # connection rather than read it.
            response.close()
            response.release_conn()
            return None
        try:
            data: bytes = response.read()
        except HTTPError as error:
            raise StorageError(f"cannot read {key} from {self.url}: {error}") from None
        finally:
            response.release_conn()
        return data[-length:] if length else b""

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

    def _request(self, key: str, headers: dict[str, str], *, preload: bool) -> Any:
        check_key(key)
        url = self._base + quote(key)
        self._counter.add()
        try:
            response = self._pool.request(
                "GET", url, headers=headers, preload_content=preload, decode_content=False
            )
        except MaxRetryError as error:
            if isinstance(error.reason, NewConnectionError):
                # Refused or unreachable at once (urllib3 makes this a subclass of its connect
                # timeout, but a real timeout is a plain ConnectTimeoutError): waiting longer
                # would not help, so do not suggest it.
                cause = error.reason.__context__ or error.reason
                reason = getattr(cause, "strerror", None) or str(cause)
                raise StorageError(
                    f"cannot connect to the HTTP index {self.url} for {key}: {reason} "
                    f"({_ATTEMPTS} attempts); is the host up and the URL right?"
                ) from None
            raise StorageError(
                f"the HTTP index {self.url} did not answer for {key} within {self._timeout:g} s "
                f"({_ATTEMPTS} attempts: {error.reason}); to wait longer per attempt, pass "
                "--timeout SECONDS or set DIOPTRA_PLUGINS_TIMEOUT"
            ) from None
        except HTTPError as error:
            raise StorageError(f"cannot read {key} from {self.url}: {error}") from None
        if response.status in (200, 206, 304):
            return response
        if not preload:
            response.drain_conn()
            response.release_conn()
        if response.status in (404, 410):
            raise ObjectNotFoundError(key=key, url=self.url)
        if response.status in (401, 403):
            raise StorageError(
                f"{self.url} refused to serve {key} (HTTP {response.status}): the host needs "
                "credentials or does not serve this path"
            )
        raise StorageError(f"cannot read {key} from {self.url}: HTTP {response.status}")


class _ClosingStream:
    """A response body as a file object whose ``close`` returns the connection to the pool."""

    def __init__(self, response: Any) -> None:
        self._response = response

    def read(self, size: int = -1) -> bytes:
        data: bytes = self._response.read(None if size < 0 else size)
        return data

    def close(self) -> None:
        self._response.release_conn()

    def __enter__(self) -> _ClosingStream:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()
