"""Turn an index URL into a storage backend: ``s3://bucket/prefix``, ``https://host/prefix/``
(read-only), a path, or ``file://``."""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

from dioptra_plugins.errors import UsageError
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.timeouts import index_timeout

# S3 bucket naming rules (lower case, digits, dots, hyphens; 3 to 63 characters).
_BUCKET = re.compile(r"^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$")
_SCHEME = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*):")

INDEX_VARIABLE = "DIOPTRA_PLUGINS_INDEX"
"""The index URL commands and ``sync()`` use when none is given."""


def open_storage(url: str, *, timeout: float | None = None) -> Storage:
    """The backend for ``url``; a malformed URL is a :class:`UsageError` (exit 2).

    ``timeout`` (seconds to connect and for each read, per attempt) applies to S3; without it
    :func:`index_timeout` decides.  A local index needs none.
    """
    if not url or not url.strip():
        raise UsageError("the index URL is empty")
    scheme_match = _SCHEME.match(url)
    scheme = scheme_match.group(1).lower() if scheme_match else ""
    # A one-letter "scheme" is a Windows drive; anything else that is not ours is refused.
    if scheme == "s3":
        return _s3(url, index_timeout(timeout))
    if scheme == "file":
        return _file(url)
    if scheme in ("http", "https"):
        # Imported here: urllib3 is only needed by workers reading an HTTP index.
        from dioptra_plugins.index.http import HTTPStorage

        return HTTPStorage(url, timeout=index_timeout(timeout))
    if scheme and len(scheme) > 1:
        raise UsageError(
            f"unsupported index URL {url!r}: use s3://bucket/prefix, https://host/prefix/ "
            "(read-only), file:///path or a path"
        )
    if "\x00" in url:
        raise UsageError(f"invalid index path {url!r}")
    # Imported here, as the other backends are: an S3 or HTTP index never needs it.
    from dioptra_plugins.index.local import LocalStorage

    return LocalStorage(Path(url).expanduser())


def _s3(url: str, timeout: float) -> Storage:
    parts = urlsplit(url)
    if not url.startswith("s3://"):
        raise UsageError(f"malformed S3 URL {url!r}: expected s3://bucket/prefix")
    bucket = parts.netloc
    if not _BUCKET.match(bucket) or ".." in bucket:
        raise UsageError(
            f"malformed S3 URL {url!r}: {bucket!r} is not a valid bucket name "
            "(3-63 lower-case letters, digits, dots or hyphens)"
        )
    if parts.query or parts.fragment:
        raise UsageError(f"malformed S3 URL {url!r}: no query or fragment allowed")
    prefix = parts.path.strip("/")
    segments = prefix.split("/") if prefix else []
    if any(segment in ("", ".", "..") for segment in segments):
        raise UsageError(f"malformed S3 URL {url!r}: empty, '.' or '..' path segment")
    # Imported here: boto3 costs ~0.1 s of start-up that a local index never needs.
    from dioptra_plugins.index.s3 import S3Storage

    return S3Storage(bucket, prefix, timeout=timeout)


def _file(url: str) -> Storage:
    parts = urlsplit(url)
    if parts.netloc not in ("", "localhost"):
        raise UsageError(f"malformed file URL {url!r}: only local paths (file:///path)")
    if not parts.path.startswith("/") or parts.query or parts.fragment:
        raise UsageError(f"malformed file URL {url!r}: expected file:///absolute/path")
    from dioptra_plugins.index.local import LocalStorage

    return LocalStorage(Path(unquote(parts.path)))
