"""Changing index objects behind the index's back, as a bucket writer (an attacker) would."""

from __future__ import annotations

from pathlib import Path

from dioptra_plugins.index.url import open_storage


def overwrite(index_url: str, key: str, data: bytes) -> None:
    """Write any object of the index at ``index_url`` (local or ``s3://``), immutable or not."""
    if index_url.startswith("s3://"):
        import boto3

        bucket, _, prefix = index_url.removeprefix("s3://").partition("/")
        full_key = f"{prefix.strip('/')}/{key}" if prefix.strip("/") else key
        boto3.session.Session().client("s3").put_object(Bucket=bucket, Key=full_key, Body=data)
        return
    path = Path(index_url) / key
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.exists():
        path.chmod(0o644)
    path.write_bytes(data)


def read_object(index_url: str, key: str) -> bytes:
    return open_storage(index_url).get(key).data
