"""S3 requests without the client's per-call machinery: signed as botocore signed a GET.

A sync reads two objects per bundle (its project document and the bundle itself); a publish
writes four or five small objects per bundle (its metadata, document, simple and catalogue
pages).  Through the botocore client each request costs about 1.2-1.3 ms of CPU before and
after the request itself: parameter validation, a dozen events, the endpoint rules, and a
response parser that runs dateutil on ``Last-Modified``.  Direct, it costs about 0.6 ms.

What stays botocore's: the first GetObject of a storage goes through the client, and its
``before-sign`` event says what botocore chose for this bucket: the object URL (endpoint,
path-style or virtual-hosted), the signature version, the signing name and region, and the
signer that holds the credentials.  Later GETs, and PUTs of bodies held in memory, reuse
exactly those choices:

- the URL of another key is the same base plus the key quoted as botocore quotes a key;
- the signature is made by that signer's own ``get_auth_instance`` (credentials refreshed as
  the client refreshes them);
- the request goes out on the client's own HTTP session, so its TLS verification, proxies,
  client certificate, timeouts and connection pool apply unchanged.

Only the answers expected are handled here: for a read 200, 206, 304, and 404 ``NoSuchKey``;
for a write 200, and 412 ``PreconditionFailed``.  Any other answer and any failure to send go
back to the client, whose retries, error parsing and messages stay the only ones (the failed
direct attempt is logged, and counted as a request).  A write whose answer was lost is then
sent again by the client, as botocore's own retry would send it.
Nothing is learned from a first request that was not plain SigV4 to a plain object URL
(S3 Express sessions, SigV4a, a query string), nor under the adaptive retry mode, whose
client-side rate limiter only the client applies: then every read stays with the client.
"""

from __future__ import annotations

import logging
import re
import threading
from dataclasses import dataclass
from typing import Any, cast
from urllib.parse import quote, urlsplit

import botocore.exceptions
import urllib3.exceptions
from botocore.awsrequest import AWSRequest
from botocore.response import StreamingBody

from dioptra_plugins.index.aws_configuration import redact
from dioptra_plugins.index.counting import RequestCounter

log = logging.getLogger(__name__)

# What the direct path signs with; anything else (SigV4a, S3 Express sessions) stays with the
# client, which knows how.
_SIGNATURE_VERSION = "s3v4"
# botocore's serializer quotes a key (a greedy URI label) with these left as they are.
_KEY_SAFE = "/~"
# A 404 whose body names this code is a missing key; another 404 (a missing bucket) goes back
# to the client for its message.
_NOT_FOUND = re.compile(rb"<Code>\s*NoSuchKey\s*</Code>")
_READ_ANSWERS = frozenset({200, 206, 304, 404})
# A failed If-None-Match or If-Match of a write: the caller's to explain (exists, or changed).
_PRECONDITION_FAILED = re.compile(rb"<Code>\s*PreconditionFailed\s*</Code>")
# Bigger bodies (bundles) go through the client, which streams them from their files.
_DIRECT_PUT_LIMIT = 16 * 1024 * 1024
# A body that breaks off: botocore's own errors for it, and what urllib3 and the socket raise
# before botocore wraps them.
_READ_FAILURES: tuple[type[Exception], ...] = (
    botocore.exceptions.BotoCoreError,
    urllib3.exceptions.HTTPError,
    OSError,
)


def key_path(full_key: str) -> str:
    """``full_key`` as botocore puts it in an object URL."""
    return quote(full_key, safe=_KEY_SAFE)


@dataclass(frozen=True)
class _Route:
    """What botocore chose for one bucket, as its first GetObject showed."""

    base: str
    """The object URL without the key: ``http://host:port/bucket/`` or ``https://bucket.host/``."""
    signer: Any
    """The client's ``botocore.signers.RequestSigner``."""
    auth: dict[str, str]
    """``signing_name``, ``region_name`` and ``signature_version``, as botocore signed with."""
    context: dict[str, Any]
    """The request context the signature reads (the client's configuration)."""
    user_agent: str | None


@dataclass(frozen=True)
class DirectAnswer:
    """A request the direct path completed: its status, ETag, and a read's body or stream."""

    status: int
    etag: str
    body: bytes
    stream: StreamingBody | None

    @property
    def not_found(self) -> bool:
        return self.status == 404


class DirectRequests:
    """The direct requests of one :class:`~dioptra_plugins.index.s3.S3Storage`.

    ``observe`` is the client's ``before-sign.s3.GetObject`` handler; after a client GetObject
    of ``full_key`` the storage calls ``learn(full_key)``; ``get`` and ``put`` then answer, or
    return None when the request is the client's to make.
    """

    def __init__(self, client: Any, counter: RequestCounter, *, enabled: bool) -> None:
        endpoint = getattr(client, "_endpoint", None)
        # The client's own transport (botocore.httpsession.URLLib3Session): same TLS settings,
        # proxies and pool as every client request.  Private in botocore, hence the checks:
        # without it, every read simply stays with the client.
        self._http = getattr(endpoint, "http_session", None)
        self._enabled = enabled and callable(getattr(self._http, "send", None))
        self._counter = counter
        self._route: _Route | None = None
        self._seen = threading.local()
        self._answered = RequestCounter()

    @property
    def answered(self) -> int:
        """How many requests the direct path completed (for tests and benchmarks)."""
        return self._answered.value

    def observe(
        self,
        request: Any,
        signing_name: str,
        region_name: str,
        signature_version: str,
        request_signer: Any,
        **_kwargs: Any,
    ) -> None:
        """before-sign: remember what this thread's GetObject is about to be signed with."""
        if self._enabled and self._route is None:
            self._seen.last = (
                request,
                signing_name,
                region_name,
                signature_version,
                request_signer,
            )

    def learn(self, full_key: str) -> None:
        """After a client GetObject of ``full_key`` answered: adopt its choices if they are ones
        the direct path repeats exactly."""
        seen = getattr(self._seen, "last", None)
        self._seen.last = None
        if seen is None or self._route is not None:
            return
        request, signing_name, region_name, signature_version, signer = seen
        context = dict(getattr(request, "context", None) or {})
        signing = context.get("signing") or {}
        if signature_version != _SIGNATURE_VERSION or signing.get("request_credentials"):
            return
        if signing.get("identity_cache") is not None or not hasattr(signer, "get_auth_instance"):
            return
        url = str(request.url)
        suffix = "/" + key_path(full_key)
        if urlsplit(url).query or not url.endswith(suffix):
            return
        self._route = _Route(
            base=url[: -len(suffix) + 1],
            signer=signer,
            auth={
                # As RequestSigner.sign applies them: the endpoint rules' signing context wins.
                "signing_name": signing.get("signing_name") or signing_name,
                "region_name": signing.get("region") or region_name,
                "signature_version": signature_version,
            },
            context={"client_config": context.get("client_config")},
            user_agent=request.headers.get("User-Agent"),
        )
        log.debug("S3 reads go direct to %s", self._route.base)

    def get(
        self, full_key: str, headers: dict[str, str], *, stream: bool = False
    ) -> DirectAnswer | None:
        """One GET of ``full_key``, or None: the client is to make this read (not learned yet,
        or the direct attempt failed or met an answer only the client explains)."""
        sent = self._send("GET", full_key, headers, None)
        if sent is None:
            return None
        status, etag, body = sent
        if status in (200, 206) and stream:
            self._answered.add()
            return DirectAnswer(status, etag, b"", body)
        content = self._read("GET", full_key, body)
        if content is None:
            return None
        if status not in _READ_ANSWERS or (status == 404 and not _NOT_FOUND.search(content)):
            return self._hand_back("GET", full_key, status)
        self._answered.add()
        return DirectAnswer(status, etag, content, None)

    def put(self, full_key: str, data: bytes, headers: dict[str, str]) -> DirectAnswer | None:
        """One PUT of ``data`` at ``full_key`` (conditional as ``headers`` say): 200 with the
        new ETag, or 412 when the condition failed; None: the client is to make this write.

        The payload's sha256 is signed (no checksum header is sent), so the server checks the
        body against it: a PUT cut or changed on the way is refused, not stored."""
        if len(data) > _DIRECT_PUT_LIMIT:
            return None
        sent = self._send("PUT", full_key, headers, data)
        if sent is None:
            return None
        status, etag, body = sent
        content = self._read("PUT", full_key, body)
        if content is None:
            return None
        if status != 200 and not (status == 412 and _PRECONDITION_FAILED.search(content)):
            return self._hand_back("PUT", full_key, status)
        self._answered.add()
        return DirectAnswer(status, etag, b"", None)

    def _send(
        self, method: str, full_key: str, headers: dict[str, str], data: bytes | None
    ) -> tuple[int, str, StreamingBody] | None:
        """Sign and send one request as botocore would: (status, ETag, body), or None."""
        route = self._route
        if route is None:
            return None
        url = route.base + key_path(full_key)
        request = AWSRequest(method=method, url=url, headers=headers, data=data)
        if route.user_agent:
            request.headers["User-Agent"] = route.user_agent
        request.context.update(route.context)
        route.signer.get_auth_instance(**route.auth).add_auth(request)
        prepared = request.prepare()
        # Always streamed: the body is read through botocore's StreamingBody, which checks it
        # against Content-Length as the client's reads do (the session itself would not).
        prepared.stream_output = True
        self._counter.add()
        try:
            response = self._http.send(prepared)  # type: ignore[union-attr]
        except botocore.exceptions.BotoCoreError as error:
            return self._hand_back(method, full_key, error)
        length = response.headers.get("Content-Length")
        # No Content-Length (a chunked answer): botocore's StreamingBody then checks nothing,
        # as for the client's reads; its stubs only say int.
        body = StreamingBody(response.raw, cast(int, int(length) if length is not None else None))
        return int(response.status_code), str(response.headers.get("ETag", "")), body

    def _read(self, method: str, full_key: str, body: StreamingBody) -> bytes | None:
        try:
            content: bytes = body.read()
        except _READ_FAILURES as error:
            return self._hand_back(method, full_key, error)
        finally:
            body.close()
        return content

    @staticmethod
    def _hand_back(method: str, full_key: str, failure: Exception | int) -> None:
        if isinstance(failure, int):
            # A refusal the client explains (403 without s3:ListBucket for a missing key, 404
            # of a missing bucket...): it asks again and raises its own error, which its caller
            # may expect (a missing document pack), so this is no warning; a 5xx is one.
            level = logging.DEBUG if failure < 500 else logging.WARNING
            reason = f"HTTP {failure}"
        else:
            level, reason = logging.WARNING, f"{type(failure).__name__}: {redact(str(failure))}"
        log.log(level, "S3 %s %s: %s; trying again through the S3 client", method, full_key,
                reason)  # fmt: skip
