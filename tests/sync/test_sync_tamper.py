"""Hostile or damaged index contents are refused and the plugin dir stays exactly as it was."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from synchelpers import installed, publish_wheels, snapshot

from dioptra_plugins import sync
from dioptra_plugins.errors import BundleError, IndexFormatError, IntegrityError, SyncError
from dioptra_plugins.plugindir.verify_dir import verify
from tampering import overwrite, read_object

BUNDLE_KEY = "bundles/alpha/alpha-1.1.0-py3-none-any.whl"


@pytest.fixture
def synced(index_url: str, wheels: dict[str, Path], tmp_path: Path) -> Path:
    """alpha 1.0.0 synced; alpha 1.1.0 published after, ready to be tampered with."""
    publish_wheels(index_url, [wheels["alpha-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index_url, plugin_dir=plugin_dir)
    publish_wheels(index_url, [wheels["alpha-1.1.0"]])
    return plugin_dir


def refused(index_url: str, plugin_dir: Path, error: type[Exception], match: str) -> None:
    before = snapshot(plugin_dir)
    with pytest.raises(error, match=match):
        sync(["alpha"], index=index_url, plugin_dir=plugin_dir)
    assert snapshot(plugin_dir) == before
    assert installed(plugin_dir) == {"alpha": "1.0.0"}
    assert verify(plugin_dir).ok


def test_bundle_bytes_changed_after_publishing(index_url: str, synced: Path) -> None:
    data = bytearray(read_object(index_url, BUNDLE_KEY))
    data[len(data) // 2] ^= 0xFF
    overwrite(index_url, BUNDLE_KEY, bytes(data))
    refused(index_url, synced, IntegrityError, "does not match the index's")


def test_truncated_bundle(index_url: str, synced: Path) -> None:
    data = read_object(index_url, BUNDLE_KEY)
    overwrite(index_url, BUNDLE_KEY, data[: len(data) // 2])
    refused(index_url, synced, IntegrityError, "truncated download")


def test_oversized_bundle(index_url: str, synced: Path) -> None:
    data = read_object(index_url, BUNDLE_KEY)
    overwrite(index_url, BUNDLE_KEY, data + b"\0" * 10)
    refused(index_url, synced, IntegrityError, "more than the")


def test_project_document_not_matching_the_root(index_url: str, synced: Path) -> None:
    root = json.loads(read_object(index_url, "index.json"))
    key = root["projects"]["alpha"]["document"]
    document = json.loads(read_object(index_url, key))
    document["files"][0]["yanked"] = True
    overwrite(index_url, key, json.dumps(document).encode())
    refused(index_url, synced, IndexFormatError, "sha256 mismatch")


def test_missing_bundle(index_url: str, synced: Path) -> None:
    if index_url.startswith("s3://"):
        import boto3

        bucket, _, prefix = index_url.removeprefix("s3://").partition("/")
        boto3.session.Session().client("s3").delete_object(
            Bucket=bucket, Key=f"{prefix}/{BUNDLE_KEY}"
        )
    else:
        (Path(index_url) / BUNDLE_KEY).unlink()
    refused(index_url, synced, SyncError, "bundle is missing")


def test_index_listing_a_hostile_wheel(tmp_path: Path, wheels: dict[str, Path]) -> None:
    """A wheel whose bytes match the index but break the bundle rules is refused on verify."""
    import zipfile

    from dioptra_plugins.index.documents import ProjectDocument, RootDocument
    from dioptra_plugins.index.reading import DocumentCache
    from dioptra_plugins.index.swap import change_root
    from dioptra_plugins.index.url import open_storage

    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index, plugin_dir=plugin_dir)
    # Build a wheel with an escaping path, then make the index describe it honestly.
    hostile = tmp_path / "alpha-1.1.0-py3-none-any.whl"
    with zipfile.ZipFile(wheels["alpha-1.1.0"]) as good, zipfile.ZipFile(hostile, "w") as bad:
        for item in good.infolist():
            bad.writestr(item, good.read(item))
        bad.writestr("../../escape.py", b"print('escaped')\n")
    import hashlib

    data = hostile.read_bytes()
    storage = open_storage(index)
    storage.put_new(BUNDLE_KEY, data)

    def add(root: RootDocument, documents: DocumentCache) -> dict[str, ProjectDocument]:
        from dataclasses import replace

        document = documents.get(root, "alpha")
        assert document is not None
        entry = replace(
            document.files[0],
            filename=hostile.name,
            version="1.1.0",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        return {"alpha": document.with_files([*document.files, entry])}

    change_root(storage, add)
    refused(index, plugin_dir, BundleError, "escape.py")
    assert not (tmp_path / "escape.py").exists()
