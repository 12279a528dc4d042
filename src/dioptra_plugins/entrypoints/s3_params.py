"""Downloading an ``s3://`` path parameter to a local directory before the command runs.

The S3 client comes from boto3's standard configuration (``AWS_ENDPOINT_URL``, profiles,
environment), like every other S3 access of this project.  ``s3://bucket/key`` names one
object, or, when no such object exists, every object under the prefix ``key/`` (a "folder");
the command receives the local file or folder.
"""

from __future__ import annotations

import logging
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from dioptra_plugins.errors import ParameterError, StorageError

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)


def download_s3_path(name: str, uri: str, target_dir: Path) -> Path:
    """Download ``uri`` into ``target_dir`` (created) and return the local file or folder."""
    bucket, key = _split(name, uri)
    client = _client()
    target_dir.mkdir(parents=True, exist_ok=False)
    try:
        if key and not key.endswith("/"):
            local = target_dir / PurePosixPath(key).name
            if _download_object(client, bucket, key, local):
                logger.info("parameter %s: downloaded %s to %s", name, uri, local)
                return local
        prefix = key if not key or key.endswith("/") else key + "/"
        folder = target_dir / (PurePosixPath(prefix).name or bucket)
        count = _download_prefix(client, bucket, prefix, folder)
    except _boto_errors() as error:
        raise StorageError(f"parameter {name}: cannot download {uri}: {error}") from None
    if count == 0:
        raise ParameterError(f"{name}: {uri} does not exist (no object and no objects under it)")
    logger.info("parameter %s: downloaded %d objects from %s to %s", name, count, uri, folder)
    return folder


def _split(name: str, uri: str) -> tuple[str, str]:
    rest = uri[len("s3://") :] if uri.lower().startswith("s3://") else ""
    bucket, _, key = rest.partition("/")
    if not bucket:
        raise ParameterError(f"{name}: {uri!r} names no bucket (expected s3://bucket/key)")
    return bucket, key


def _client() -> S3Client:
    import boto3

    # A fresh session, not boto3's module-level default: that one caches the credentials it
    # resolved first, and the environment may have changed since (another profile, endpoint).
    return boto3.session.Session().client("s3")


def _boto_errors() -> tuple[type[Exception], ...]:
    from botocore.exceptions import BotoCoreError, ClientError

    return (BotoCoreError, ClientError)


def _download_object(client: S3Client, bucket: str, key: str, local: Path) -> bool:
    """Download one object; False when it does not exist (so the caller tries a prefix)."""
    from botocore.exceptions import ClientError

    try:
        client.head_object(Bucket=bucket, Key=key)
    except ClientError as error:
        if _status(error) == 404:
            return False
        raise
    client.download_file(bucket, key, str(local))
    return True


def _download_prefix(client: S3Client, bucket: str, prefix: str, folder: Path) -> int:
    count = 0
    paginator = client.get_paginator("list_objects_v2")
    for page in paginator.paginate(Bucket=bucket, Prefix=prefix):
        for entry in page.get("Contents", []):
            key = entry["Key"]
            relative = PurePosixPath(key[len(prefix) :])
            if key.endswith("/") or not _is_safe(relative):
                # Folder markers carry no data; keys with ".." would escape the folder.
                logger.warning("skipping S3 key %r under %s", key, prefix)
                continue
            local = folder.joinpath(*relative.parts)
            local.parent.mkdir(parents=True, exist_ok=True)
            client.download_file(bucket, key, str(local))
            count += 1
    return count


def _is_safe(relative: PurePosixPath) -> bool:
    parts = relative.parts
    return (
        bool(parts) and not relative.is_absolute() and all(p not in ("", ".", "..") for p in parts)
    )


def _status(error: Any) -> int | None:
    status = error.response.get("ResponseMetadata", {}).get("HTTPStatusCode")
    return int(status) if status is not None else None
