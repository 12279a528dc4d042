"""The HTTP index's reads on urllib3: one pool, connection reuse, retries with backoff.

urllib3 (which botocore already brings) keeps connections alive between the many GETs of a sync
and retries connection errors and 5xx answers, each retry logged.  Its import costs about 35 ms
of a fresh process, more than a no-op sync's whole request: the HTTP storage therefore builds
this pool on the first read that needs it (see :mod:`dioptra_plugins.index.http`).
"""

from __future__ import annotations

import logging
from types import TracebackType
from typing import Any, BinaryIO, Self, cast
from urllib.parse import quote

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
from dioptra_plugins.index.counting import RequestCounter
from dioptra_plugins.index.storage import WholeObject

logger = logging.getLogger(__name__)

ATTEMPTS = 3
_RETRY_STATUSES = frozenset({500, 502, 503, 504})


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
            ATTEMPTS,
            why,
        )
        return retry


def check_url(url: str) -> None:
    """Refuse what urllib3's parser (the one it applies to every request) refuses."""
    try:
        urllib3.util.parse_url(url)
    except LocationParseError as error:
        raise UsageError(f"malformed HTTP index URL {url!r}: {error}") from None


class PooledReads:
    """The GETs of one HTTP index, on one urllib3 pool; every call is one request (retries
    aside), counted in ``counter``."""

    def __init__(self, url: str, *, timeout: float, counter: RequestCounter) -> None:
        check_url(url)
        self.url = url
        self._base = url.rstrip("/") + "/"
        self._timeout = timeout
        self._counter = counter
        retry = _LoggingRetry(
            total=ATTEMPTS - 1,
            connect=ATTEMPTS - 1,
            read=ATTEMPTS - 1,
            status=ATTEMPTS - 1,
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

    def request(self, key: str, headers: dict[str, str], *, preload: bool) -> Any:
        """The answer to a GET of ``key``: 200, 206 or 304; anything else raised as the
        library's error."""
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
                    f"({ATTEMPTS} attempts); is the host up and the URL right?"
                ) from None
            raise StorageError(
                f"the HTTP index {self.url} did not answer for {key} within {self._timeout:g} s "
                f"({ATTEMPTS} attempts: {error.reason}); to wait longer per attempt, pass "
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

    def stream(self, key: str) -> BinaryIO:
        return cast(BinaryIO, _ClosingStream(self.request(key, {}, preload=False)))

    def tail(self, key: str, length: int) -> bytes | WholeObject | None:
        response = self.request(key, {"Range": f"bytes=-{length}"}, preload=False)
        if response.status == 200:
            # The host ignored the range and is sending the whole object: that is the
            # download (dropping it would cost a second request, and the host a reset).
            return WholeObject(cast(BinaryIO, _ClosingStream(response)))
        if response.status != 206:
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
