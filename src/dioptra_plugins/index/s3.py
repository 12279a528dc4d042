"""The index in an S3 bucket, through boto3's botocore: AWS, MinIO, SeaweedFS, Ceph alike.

Configuration comes only from the standard AWS chain (environment, profiles,
``AWS_ENDPOINT_URL``), so nothing here knows which server it talks to.  Create-only writes send
``If-None-Match: *`` and compare-and-swap sends ``If-Match: <etag>``; the server answers 412 when
the condition fails.  Transient failures are retried by botocore's own retry modes (standard by
default, ``AWS_RETRY_MODE=adaptive`` honoured); the only hand-written retry in the index is the
compare-and-swap loop of the root, in :mod:`dioptra_plugins.publishing.publish`.

Every attempt waits at most ``timeout`` seconds to connect and for each read (default 10, see
:func:`dioptra_plugins.index.timeouts.index_timeout`), so an endpoint that accepts connections and
never answers fails after about ``attempts x timeout`` seconds, each retry logged as a warning.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator
from typing import TYPE_CHECKING, Any, BinaryIO, Literal, NoReturn, cast
from urllib.parse import urlsplit

import botocore.exceptions
import botocore.session
from botocore.config import Config

from dioptra_plugins.errors import (
    ConflictError,
    ObjectExistsError,
    ObjectNotFoundError,
    StorageError,
)
from dioptra_plugins.index.aws_configuration import (
    blamed_configuration_error,
    check_credential_text,
    config_files,
    configuration_error,
    credential_source,
    redact,
)
from dioptra_plugins.index.content_types import content_type
from dioptra_plugins.index.counting import RequestCounter
from dioptra_plugins.index.keys import check_key
from dioptra_plugins.index.s3_direct import DirectAnswer, DirectRequests
from dioptra_plugins.index.s3_retries import RetryLog, remember_failure
from dioptra_plugins.index.storage import NotModified, ObjectInfo, StoredObject
from dioptra_plugins.index.timeouts import TIMEOUT_VARIABLE, index_timeout

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

log = logging.getLogger(__name__)

_DEFAULT_ATTEMPTS = 3  # botocore's standard and adaptive modes, unless AWS_MAX_ATTEMPTS says

_AUTH_CODES = {
    "InvalidAccessKeyId",
    "SignatureDoesNotMatch",
    "AccessDenied",
    "InvalidToken",
    "ExpiredToken",
    "AuthorizationHeaderMalformed",
    "InvalidClientTokenId",
    "403",
}
_NOT_FOUND_CODES = {"NoSuchKey", "404", "NotFound"}
_PRECONDITION_CODES = {"PreconditionFailed", "412"}
# AWS answers 409 when two conditional writes to one key are in flight at once.
_CONCURRENT_CODES = {"ConditionalRequestConflict", "409"}

# botocore failures of the transport, not of the configuration: they stay StorageErrors.
_TRANSPORT_ERRORS: tuple[type[Exception], ...] = (
    botocore.exceptions.EndpointConnectionError,
    botocore.exceptions.ConnectionClosedError,
    botocore.exceptions.ConnectTimeoutError,
    botocore.exceptions.ReadTimeoutError,
    botocore.exceptions.HTTPClientError,
    botocore.exceptions.SSLError,
    botocore.exceptions.ProxyConnectionError,
    botocore.exceptions.ResponseStreamingError,
    botocore.exceptions.IncompleteReadError,
    botocore.exceptions.NoCredentialsError,
)


# Any failure of a request: an S3 error response, botocore's own errors, the connection's.
_ANY_FAILURE: tuple[type[Exception], ...] = (
    botocore.exceptions.ClientError,
    botocore.exceptions.BotoCoreError,
    ConnectionError,
)


class S3Storage:
    """A :class:`~dioptra_plugins.index.storage.Storage` over ``s3://bucket/prefix``."""

    def __init__(
        self,
        bucket: str,
        prefix: str = "",
        *,
        max_pool_connections: int = 32,
        timeout: float | None = None,
    ) -> None:
        self.bucket = bucket
        self.prefix = prefix.strip("/")
        self.url = f"s3://{bucket}/{self.prefix}" if self.prefix else f"s3://{bucket}"
        # Seconds to connect and for each read, per attempt: the argument, else the variable.
        self.timeout = timeout = index_timeout(timeout)
        self._counter = RequestCounter()
        try:
            # botocore's session, as boto3's Session wraps it: the same AWS chain, without the
            # ~60 ms boto3 and s3transfer add to every start-up (no resources, no transfers).
            self._session = botocore.session.Session()
            # The profile's or environment's retry_mode wins; "legacy" (or nothing) is standard.
            retry_mode = self._session.get_config_variable("retry_mode") or "standard"
            if retry_mode not in ("standard", "adaptive"):
                retry_mode = "standard"
            config = Config(
                retries={"mode": cast(Literal["standard", "adaptive"], retry_mode)},
                max_pool_connections=max_pool_connections,
                connect_timeout=timeout,
                read_timeout=timeout,
            )
            self._client = cast("S3Client", self._session.create_client("s3", config=config))
        except botocore.exceptions.ProfileNotFound as error:
            self._raise(error, "use the index", None)
        except (botocore.exceptions.BotoCoreError, ValueError, TypeError, OSError) as error:
            # botocore checks the AWS chain here (endpoint, retries, region, the config and
            # credentials files) and raises ValueErrors as well as its own errors: all are
            # the user's configuration, said as such, never a traceback.
            raise configuration_error(error, self.url, self._session) from None
        self._check_settings()
        # The resolved retry settings (AWS_MAX_ATTEMPTS included), for the messages.
        retries: dict[str, Any] = getattr(self._client.meta.config, "retries", None) or {}
        self.attempts = int(retries.get("total_max_attempts") or _DEFAULT_ATTEMPTS)
        events = self._client.meta.events
        # before-send fires once per HTTP attempt, retries included: the true request count.
        events.register("before-send.s3", self._count_request)
        # botocore's own retry handler decides; these two only say why and which attempt.
        events.register_first("needs-retry.s3", remember_failure)
        events.register("request-created.s3", RetryLog(self.attempts))
        # Reads after the first go direct (index/s3_direct.py), as the first one was signed;
        # not under the adaptive mode, whose rate limiter only the client applies.
        self._direct = DirectRequests(self._client, self._counter, enabled=retry_mode == "standard")
        events.register("before-sign.s3.GetObject", self._direct.observe)

    def _check_settings(self) -> None:
        """Refuse, before any request, what botocore would only fail on while sending: an
        endpoint port out of range, credentials that cannot go into an HTTP header."""
        endpoint = str(self._client.meta.endpoint_url)
        try:
            urlsplit(endpoint).port  # noqa: B018 - parsing the port is the check
        except ValueError:
            raise configuration_error(
                ValueError(f"Invalid endpoint: {endpoint}"), self.url
            ) from None
        # The credentials create_client resolved, as its signer holds them: asking the session
        # again would walk the whole chain a second time when it found none (instance metadata
        # included, a second or more on a machine without it).
        signer = getattr(self._client, "_request_signer", None)
        credentials = getattr(signer, "_credentials", None)
        if credentials is None:
            return  # none found: refused with its own message at the first request
        check_credential_text(credentials, self.url)

    def _count_request(self, **_kwargs: Any) -> None:
        self._counter.add()

    @property
    def requests(self) -> int:
        """HTTP requests sent so far, retries included."""
        return self._counter.value

    @property
    def direct_requests(self) -> int:
        """Requests answered without the client's per-call machinery (index/s3_direct.py)."""
        return self._direct.answered

    @property
    def endpoint(self) -> str:
        return str(self._client.meta.endpoint_url)

    def _key(self, key: str) -> str:
        check_key(key)
        return f"{self.prefix}/{key}" if self.prefix else key

    # --- error translation -----------------------------------------------------------------

    def _raise(self, error: Exception, action: str, key: str | None = None) -> NoReturn:
        where = f"{self.url}/{key}" if key else self.url
        if isinstance(error, botocore.exceptions.ProfileNotFound):
            profile = error.kwargs.get("profile") or os.environ.get("AWS_PROFILE", "")
            files = config_files()
            raise StorageError(
                f"cannot {action} {where}: the AWS profile {profile!r} (AWS_PROFILE) is not "
                f"defined in {files}; set AWS_PROFILE to a profile defined there, or unset it "
                "to use the default credential chain"
            ) from None
        if isinstance(
            error, botocore.exceptions.ReadTimeoutError | botocore.exceptions.ConnectTimeoutError
        ):
            raise StorageError(
                f"cannot {action} {where}: the S3 endpoint {self.endpoint} did not answer within "
                f"{self.timeout:g} s ({self.attempts} attempt{'s' if self.attempts != 1 else ''}"
                f"); to wait longer per attempt, pass --timeout SECONDS or set "
                f"{TIMEOUT_VARIABLE}"
            ) from None
        if isinstance(error, botocore.exceptions.NoCredentialsError):
            raise StorageError(
                f"cannot {action} {where}: no AWS credentials found (tried the environment "
                "variables AWS_ACCESS_KEY_ID/AWS_SECRET_ACCESS_KEY, AWS_PROFILE, the shared "
                "credentials and config files, and instance/container metadata)"
            ) from None
        if isinstance(error, botocore.exceptions.EndpointConnectionError | ConnectionError):
            raise StorageError(
                f"cannot {action} {where}: the S3 endpoint {self.endpoint} is unreachable ({error})"
            ) from None
        if isinstance(error, botocore.exceptions.ClientError):
            code = str(error.response.get("Error", {}).get("Code", ""))
            message = str(error.response.get("Error", {}).get("Message", ""))
            if code == "NoSuchBucket":
                raise StorageError(
                    f"cannot {action} {where}: the bucket {self.bucket!r} does not exist at "
                    f"{self.endpoint}"
                ) from None
            if code in _AUTH_CODES:
                # Named by the index, not the object: which key the first request happened to
                # read (tuf/timestamp.json, probing whether the index is signed) is no clue.
                raise StorageError(
                    f"cannot {action} {self.url}: the server refused the credentials ({code}: "
                    f"{message}); used {credential_source(self._session)}"
                ) from None
            raise StorageError(f"cannot {action} {where}: {code}: {message}") from None
        if isinstance(error, botocore.exceptions.BotoCoreError):
            if not isinstance(error, _TRANSPORT_ERRORS):
                # Built lazily (the endpoint rules, the credentials): still the configuration.
                blamed = blamed_configuration_error(error, where)
                if blamed is not None:
                    raise blamed from None
            raise StorageError(f"cannot {action} {where}: {redact(str(error))}") from None
        raise error

    @contextlib.contextmanager
    def _failing(self, action: str, key: str | None) -> Iterator[None]:
        """Any botocore or connection failure in the block as the library's error (``_raise``);
        the block first turns the S3 answers it expects into their own errors."""
        try:
            yield
        except _ANY_FAILURE as error:
            self._raise(error, action, key)

    @staticmethod
    def _code(error: botocore.exceptions.ClientError) -> str:
        return str(error.response.get("Error", {}).get("Code", ""))

    # --- the Storage interface -------------------------------------------------------------

    def get(self, key: str) -> StoredObject:
        found = self._get(key, None)
        assert isinstance(found, StoredObject)  # no ETag was sent: S3 cannot answer 304
        return found

    def get_if_changed(self, key: str, etag: str) -> StoredObject | NotModified:
        return self._get(key, etag)

    def _get(self, key: str, if_none_match: str | None) -> StoredObject | NotModified:
        full_key = self._key(key)
        condition = {} if if_none_match is None else {"If-None-Match": if_none_match}
        answer = self._direct.get(full_key, condition)
        if answer is not None:
            if answer.not_found:
                raise ObjectNotFoundError(key=key, url=self.url)
            if answer.status == 304 and if_none_match is not None:
                return NotModified(key, if_none_match)
            if answer.status == 200:
                return StoredObject(key, answer.body, answer.etag)
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": full_key}
        if if_none_match is not None:
            arguments["IfNoneMatch"] = if_none_match
        with self._failing("read", key):
            try:
                response = self._client.get_object(**arguments)
                data = response["Body"].read()
            except botocore.exceptions.ClientError as error:
                code = self._code(error)
                if code == "304" and if_none_match is not None:
                    return NotModified(key, if_none_match)
                if code in _NOT_FOUND_CODES:
                    raise ObjectNotFoundError(key=key, url=self.url) from None
                raise
            finally:
                self._direct.learn(full_key)
        return StoredObject(key, data, str(response["ETag"]))

    def open(self, key: str) -> BinaryIO:
        answer = self._direct.get(self._key(key), {}, stream=True)
        if answer is not None:
            if answer.not_found:
                raise ObjectNotFoundError(key=key, url=self.url)
            if answer.stream is not None:
                return cast(BinaryIO, answer.stream)
        return cast(BinaryIO, self._object(key)["Body"])

    def read_tail(self, key: str, length: int) -> bytes | None:
        # A suffix range: S3 answers 206 with the last bytes, or 200 with a shorter object.
        suffix = f"bytes=-{length}"
        answer = self._direct.get(self._key(key), {"Range": suffix})
        if answer is not None and answer.not_found:
            raise ObjectNotFoundError(key=key, url=self.url)
        if answer is not None and answer.status in (200, 206):
            data = answer.body
        else:
            body = self._object(key, Range=suffix)["Body"]
            with self._failing("read", key):
                data = body.read()
        return data[-length:] if length else b""

    def _object(self, key: str, **arguments: Any) -> Any:
        """One GET of ``key`` whose body the caller reads; a missing key is not found."""
        full_key = self._key(key)
        with self._failing("read", key):
            try:
                return self._client.get_object(Bucket=self.bucket, Key=full_key, **arguments)
            except botocore.exceptions.ClientError as error:
                if self._code(error) in _NOT_FOUND_CODES:
                    raise ObjectNotFoundError(key=key, url=self.url) from None
                raise
            finally:
                self._direct.learn(full_key)

    def put_new(self, key: str, data: bytes | BinaryIO) -> str:
        answer = self._put_direct(key, data, {"If-None-Match": "*"})
        if answer is not None:
            if answer.status == 412:
                raise ObjectExistsError(f"{key} already exists in {self.url}")
            return answer.etag
        with self._failing("write", key):
            try:
                response = self._client.put_object(
                    Bucket=self.bucket,
                    Key=self._key(key),
                    Body=data,
                    IfNoneMatch="*",
                    **content_type(key),
                )
            except botocore.exceptions.ClientError as error:
                code = self._code(error)
                if code in _PRECONDITION_CODES:
                    raise ObjectExistsError(f"{key} already exists in {self.url}") from None
                if code in _CONCURRENT_CODES:
                    raise ConflictError(
                        f"{key}: a concurrent write to the same key is in flight"
                    ) from None
                raise
        return str(response["ETag"])

    def replace(self, key: str, data: bytes, if_match: str | None) -> str:
        condition = {"If-None-Match": "*"} if if_match is None else {"If-Match": if_match}
        answer = self._put_direct(key, data, condition)
        if answer is not None:
            if answer.status == 412:
                wanted = "absent" if if_match is None else f"at ETag {if_match}"
                raise ConflictError(f"{key} changed: expected it {wanted} (PreconditionFailed)")
            return answer.etag
        arguments: dict[str, Any] = {"Bucket": self.bucket, "Key": self._key(key), "Body": data}
        arguments.update(content_type(key))
        if if_match is None:
            arguments["IfNoneMatch"] = "*"
        else:
            arguments["IfMatch"] = if_match
        with self._failing("write", key):
            try:
                response = self._client.put_object(**arguments)
            except botocore.exceptions.ClientError as error:
                code = self._code(error)
                wanted = "absent" if if_match is None else f"at ETag {if_match}"
                # If-Match on a missing key: AWS and SeaweedFS say 412, moto says NoSuchKey.
                if (
                    code in _PRECONDITION_CODES
                    or code in _CONCURRENT_CODES
                    or (if_match is not None and code in _NOT_FOUND_CODES)
                ):
                    raise ConflictError(f"{key} changed: expected it {wanted} ({code})") from None
                raise
        return str(response["ETag"])

    def _put_direct(
        self, key: str, data: bytes | BinaryIO, condition: dict[str, str]
    ) -> DirectAnswer | None:
        """A write of a body held in memory, direct (None: the client's to make)."""
        if not isinstance(data, bytes):
            return None  # a file: the client streams it
        headers = dict(condition)
        if kind := content_type(key).get("ContentType"):
            headers["Content-Type"] = kind
        return self._direct.put(self._key(key), data, headers)

    def delete(self, key: str) -> None:
        """Remove ``key`` (absent is fine: S3 answers 204 either way); one request."""
        with self._failing("remove", key):
            self._client.delete_object(Bucket=self.bucket, Key=self._key(key))

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        strip = len(self.prefix) + 1 if self.prefix else 0
        full_prefix = f"{self.prefix}/{prefix}" if self.prefix else prefix
        found: list[ObjectInfo] = []
        with self._failing("list", prefix or None):
            paginator = self._client.get_paginator("list_objects_v2")
            for page in paginator.paginate(Bucket=self.bucket, Prefix=full_prefix):
                for item in page.get("Contents", []):
                    found.append(ObjectInfo(item["Key"][strip:], int(item["Size"])))
        return iter(found)

    def prepare(self) -> None:
        """One HEAD request that turns a missing bucket or bad credentials into a clear error."""
        with self._failing("access", None):
            try:
                self._client.head_bucket(Bucket=self.bucket)
            except botocore.exceptions.ClientError as error:
                if self._code(error) in ("404", "NoSuchBucket", "NotFound"):
                    raise StorageError(
                        f"the bucket {self.bucket!r} does not exist at {self.endpoint}"
                    ) from None
                raise
