"""Bad index URLs and broken S3 setups fail with a clear message and write nothing."""

from __future__ import annotations

from pathlib import Path

import pytest

from dioptra_plugins.errors import StorageError, UsageError
from dioptra_plugins.index.local import LocalStorage
from dioptra_plugins.index.s3 import S3Storage
from dioptra_plugins.index.url import open_storage
from s3servers import S3Server, free_ports


@pytest.mark.parametrize(
    ("url", "message"),
    [
        ("", "empty"),
        ("   ", "empty"),
        ("ftp://example.org/index", "unsupported index URL"),
        ("gs://bucket/prefix", "unsupported index URL"),
        ("s3://", "not a valid bucket name"),
        ("s3://Upper_Case/x", "not a valid bucket name"),
        ("s3://ab/x", "not a valid bucket name"),
        ("s3:/bucket/x", "expected s3://bucket/prefix"),
        ("s3://bucket/a/../b", "'..'"),
        ("s3://bucket/a//b", "empty"),
        ("s3://bucket/x?versionId=1", "no query"),
        ("file://remote-host/srv/index", "only local paths"),
        ("file:relative/path", "expected file:///absolute/path"),
    ],
)
def test_malformed_urls_are_usage_errors(url: str, message: str) -> None:
    with pytest.raises(UsageError, match=message) as caught:
        open_storage(url)
    assert caught.value.exit_code == 2


def test_good_urls_pick_the_backend(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("AWS_DEFAULT_REGION", "us-east-1")
    local = open_storage(f"file://{tmp_path}/idx")
    assert isinstance(local, LocalStorage)
    assert local.root == tmp_path / "idx"
    assert isinstance(open_storage(str(tmp_path / "plain")), LocalStorage)
    s3 = open_storage("s3://my-bucket/some/prefix/")
    assert isinstance(s3, S3Storage)
    assert (s3.bucket, s3.prefix, s3.url) == (
        "my-bucket",
        "some/prefix",
        "s3://my-bucket/some/prefix",
    )


def test_missing_bucket(s3_server: S3Server) -> None:
    storage = open_storage("s3://no-such-bucket-here/plugins")
    with pytest.raises(StorageError, match="bucket 'no-such-bucket-here' does not exist"):
        storage.get("index.json")
    with pytest.raises(StorageError, match="does not exist"):
        storage.put_new("bundles/x/x.whl", b"x")


def test_unreachable_endpoint(s3_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    (port,) = free_ports(1)
    monkeypatch.setenv("AWS_ENDPOINT_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AWS_MAX_ATTEMPTS", "2")
    storage = open_storage("s3://some-bucket/plugins")
    with pytest.raises(StorageError, match=f"endpoint http://127.0.0.1:{port} is unreachable"):
        storage.get("index.json")


def test_wrong_secret_key(seaweedfs_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    # moto accepts any credentials, so authentication failures are tested on SeaweedFS only.
    seaweedfs_server.apply(monkeypatch)
    bucket = seaweedfs_server.create_bucket()
    try:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "definitely-wrong-secret")
        storage = open_storage(f"s3://{bucket}/plugins")
        with pytest.raises(StorageError) as caught:
            storage.get("index.json")
        message = str(caught.value)
        assert "refused the credentials" in message
        assert "SignatureDoesNotMatch" in message
        assert "from env" in message  # which link of the credential chain was used
        assert "definitely-wrong-secret" not in message
        assert seaweedfs_server.access_key not in message  # only a masked key id
    finally:
        seaweedfs_server.delete_bucket(bucket)


def test_unknown_access_key(seaweedfs_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    seaweedfs_server.apply(monkeypatch)
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "AKIAUNKNOWNKEY")
    storage = open_storage("s3://whatever-bucket/plugins")
    with pytest.raises(StorageError, match="InvalidAccessKeyId") as caught:
        storage.get("index.json")
    assert "AKIAUNKNOWNKEY" not in str(caught.value)
    assert seaweedfs_server.secret_key not in str(caught.value)


def test_no_credentials(seaweedfs_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> None:
    seaweedfs_server.apply(monkeypatch)
    monkeypatch.delenv("AWS_ACCESS_KEY_ID")
    monkeypatch.delenv("AWS_SECRET_ACCESS_KEY")
    storage = open_storage("s3://whatever-bucket/plugins")
    with pytest.raises(StorageError, match="no AWS credentials found") as caught:
        storage.get("index.json")
    assert "AWS_ACCESS_KEY_ID" in str(caught.value)  # says what was tried


def test_local_index_inside_a_file_is_a_storage_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("not a directory")
    storage = open_storage(str(blocker / "index"))
    with pytest.raises(StorageError, match="cannot"):
        storage.put_new("index.json", b"{}")


def test_a_wrong_secret_on_an_unsigned_index_names_the_index(
    seaweedfs_server: S3Server, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    """Not 'cannot read .../tuf/timestamp.json': that object is only the first one a publish
    reads (to learn whether the index is signed), and this index has no tuf/ at all."""
    import subprocess
    import sys

    from wheelfactory import WheelSpec

    seaweedfs_server.apply(monkeypatch)
    bucket = seaweedfs_server.create_bucket()
    try:
        monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "definitely-wrong-secret")
        cli = str(Path(sys.executable).parent / "dioptra-plugins")
        done = subprocess.run(
            [cli, "publish", str(WheelSpec().write(tmp_path)), "--index", f"s3://{bucket}/plugins"],
            capture_output=True,
            text=True,
            check=False,
        )
        assert done.returncode == 1
        last = done.stderr.strip().splitlines()[-1]
        assert last.startswith(f"error: cannot read s3://{bucket}/plugins: the server refused")
        assert "tuf/" not in done.stderr
        assert "definitely-wrong-secret" not in done.stderr
    finally:
        seaweedfs_server.delete_bucket(bucket)
