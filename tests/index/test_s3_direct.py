"""S3 requests after the first read go direct (index/s3_direct.py): same bytes, same errors,
same counts.

Against moto and SeaweedFS (which checks every signature), with keys botocore must quote, and
with the failures the direct path hands back to the client: a missing bucket, a 503, a body
cut short, the adaptive retry mode.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from pathlib import Path

import pytest
from botocore.exceptions import BotoCoreError
from urllib3.exceptions import HTTPError

from dioptra_plugins.errors import (
    ConflictError,
    ObjectExistsError,
    ObjectNotFoundError,
    StorageError,
)
from dioptra_plugins.index.s3 import S3Storage
from dioptra_plugins.index.storage import NotModified, StoredObject
from faultproxy import CUT, FORWARD, SLOWDOWN, FaultProxy
from s3servers import S3Server

# Keys a botocore client quotes: spaces, plus, percent, question mark, hash, tilde, equals,
# non-ASCII, and a control character.
AWKWARD_KEYS = [
    "projects/plain.json",
    "bundles/with space/a b.whl",
    "bundles/plus+sign/x+1.whl",
    "bundles/percent%41/y%2F.whl",
    "bundles/query?and#hash/z.whl",
    "bundles/tilde~equals=/w.whl",
    "bundles/ünïcødé/€.whl",
    "bundles/tab\there/t.whl",
]


# A broken body as the client's stream raises it (botocore's StreamingBody hands out the raw
# urllib3 response as its context manager).
BROKEN = (BotoCoreError, HTTPError)


@pytest.fixture
def bucket(s3_server: S3Server) -> Iterator[str]:
    name = s3_server.create_bucket("direct")
    yield name
    s3_server.delete_bucket(name)


def _storage(bucket: str, prefix: str = "plug ins/v+1") -> S3Storage:
    return S3Storage(bucket, prefix)


def test_reads_after_the_first_go_direct_and_return_the_same_bytes(bucket: str) -> None:
    writer = _storage(bucket)
    contents = {key: f"content of {key}".encode() * (i + 1) for i, key in enumerate(AWKWARD_KEYS)}
    etags = {key: writer.put_new(key, data) for key, data in contents.items()}

    reader = _storage(bucket)
    first = reader.get("projects/plain.json")  # the client's: it shows the route
    assert first.data == contents["projects/plain.json"]
    assert reader.direct_requests == 0
    for key, data in contents.items():
        found = reader.get(key)
        assert (found.data, found.etag) == (data, etags[key])
        with reader.open(key) as stream:
            assert stream.read() == data
        assert reader.read_tail(key, 5) == data[-5:]
        unchanged = reader.get_if_changed(key, etags[key])
        assert unchanged == NotModified(key, etags[key])
        changed = reader.get_if_changed(key, '"not-the-etag"')
        assert isinstance(changed, StoredObject)
        assert changed.data == data
    assert reader.direct_requests == 5 * len(contents)
    # One request per read, as through the client.
    assert reader.requests == 1 + 5 * len(contents)


def test_a_missing_key_is_not_found_in_one_request(bucket: str) -> None:
    storage = _storage(bucket)
    storage.put_new("projects/a.json", b"{}")
    storage.get("projects/a.json")
    before = storage.requests
    for read in (storage.get, storage.open, lambda key: storage.read_tail(key, 10)):
        with pytest.raises(ObjectNotFoundError):
            read("projects/missing.json")
    assert storage.requests - before == 3
    assert storage.direct_requests == 3


def test_a_missing_bucket_is_the_clients_message(
    s3_server: S3Server, caplog: pytest.LogCaptureFixture
) -> None:
    name = s3_server.create_bucket("gone")
    storage = _storage(name)
    storage.put_new("projects/a.json", b"{}")
    storage.get("projects/a.json")
    storage.delete("projects/a.json")
    s3_server.delete_bucket(name)
    with (
        caplog.at_level(logging.DEBUG, logger="dioptra_plugins.index.s3_direct"),
        pytest.raises(StorageError) as caught,
    ):
        storage.get("projects/a.json")
    assert f"the bucket {name!r} does not exist" in str(caught.value)
    assert storage.direct_requests == 0
    # A refusal the client explains is handed back without a warning: only its error speaks
    # (a caller may expect it, as a sync probing for a document pack does).
    handed_back = [r for r in caplog.records if "trying again through the S3 client" in r.message]
    assert [record.levelno for record in handed_back] == [logging.DEBUG]


@pytest.fixture
def proxied(moto_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    moto_server.apply(monkeypatch)
    with FaultProxy(moto_server.endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        yield proxy


@pytest.mark.parametrize("fault", [SLOWDOWN, CUT])
def test_a_failed_direct_read_is_made_again_by_the_client(
    moto_server: S3Server, proxied: FaultProxy, fault: str, caplog: pytest.LogCaptureFixture
) -> None:
    name = moto_server.create_bucket("faults")
    try:
        storage = _storage(name)
        data = bytes(range(256)) * 400
        storage.put_new("bundles/big.whl", data)
        storage.get("bundles/big.whl")
        faults = iter([fault])
        proxied.plan = lambda _n, _m, path: next(faults, FORWARD) if "big" in path else FORWARD
        with caplog.at_level(logging.WARNING, logger="dioptra_plugins.index.s3_direct"):
            assert storage.get("bundles/big.whl").data == data
        assert "trying again through the S3 client" in caplog.text
        assert [seen.action for seen in proxied.seen[-2:]] == [fault, FORWARD]
        assert storage.requests == proxied.count()  # the direct attempt counted too
    finally:
        moto_server.delete_bucket(name)


def test_a_stream_cut_short_raises_as_the_clients_does(
    moto_server: S3Server, proxied: FaultProxy
) -> None:
    name = moto_server.create_bucket("cut")
    try:
        data = bytes(range(256)) * 400
        writer = _storage(name)
        writer.put_new("bundles/big.whl", data)
        writer.put_new("projects/a.json", b"{}")
        proxied.plan = lambda _n, _m, path: CUT if "big" in path else FORWARD
        raised: list[type[BaseException]] = []
        for learned in (False, True):
            storage = _storage(name)
            if learned:
                storage.get("projects/a.json")
            with pytest.raises(BROKEN) as caught, storage.open("bundles/big.whl") as stream:
                stream.read()
            raised.append(type(caught.value))
            assert storage.direct_requests == int(learned)
        # What the download's retry sees either way: a broken stream, never a short body.
        assert raised[0] is raised[1]
    finally:
        moto_server.delete_bucket(name)


def test_the_adaptive_retry_mode_keeps_every_read_with_the_client(
    bucket: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AWS_RETRY_MODE", "adaptive")
    storage = _storage(bucket)
    storage.put_new("projects/a.json", b"{}")
    for _ in range(3):
        assert storage.get("projects/a.json").data == b"{}"
    assert storage.direct_requests == 0


def test_writes_of_bytes_go_direct_with_their_conditions(bucket: str) -> None:
    storage = _storage(bucket)
    with pytest.raises(ObjectNotFoundError):
        storage.get("index.json")  # the client's: it shows the route
    before = storage.direct_requests
    for key in AWKWARD_KEYS:
        etag = storage.put_new(key, key.encode())
        assert storage.get(key) == StoredObject(key, key.encode(), etag)
        with pytest.raises(ObjectExistsError):
            storage.put_new(key, b"other bytes")
        assert storage.get(key).data == key.encode()
    root = storage.replace("index.json", b"1", None)
    with pytest.raises(ConflictError):
        storage.replace("index.json", b"2", None)  # must be absent
    with pytest.raises(ConflictError):
        storage.replace("index.json", b"2", '"not-the-etag"')
    second = storage.replace("index.json", b"2", root)
    assert storage.get("index.json") == StoredObject("index.json", b"2", second)
    # put_new, get, put_new refused, get per key; then four replaces and a get.
    assert storage.direct_requests - before == 4 * len(AWKWARD_KEYS) + 5


def test_pages_written_direct_keep_their_content_type(bucket: str, s3_server: S3Server) -> None:
    storage = _storage(bucket)
    with pytest.raises(ObjectNotFoundError):
        storage.get("index.json")
    storage.put_new("site/index.html", b"<html></html>")
    storage.replace("simple/demo/index.json", b"{}", None)
    assert storage.direct_requests == 2
    client = s3_server.client()
    prefix = "plug ins/v+1"
    for key, kind in (("site/index.html", "text/html"), ("simple/demo/index.json", "json")):
        head = client.head_object(Bucket=bucket, Key=f"{prefix}/{key}")
        assert kind in head["ContentType"]


def test_a_file_body_is_streamed_by_the_client(bucket: str, tmp_path: Path) -> None:
    storage = _storage(bucket)
    with pytest.raises(ObjectNotFoundError):
        storage.get("index.json")
    wheel = tmp_path / "big.whl"
    wheel.write_bytes(b"wheel bytes" * 1000)
    with wheel.open("rb") as body:
        storage.put_new("bundles/demo/big.whl", body)
    assert storage.direct_requests == 0
    assert storage.get("bundles/demo/big.whl").data == wheel.read_bytes()
    assert storage.direct_requests == 1


def test_a_failed_direct_write_is_made_again_by_the_client(
    moto_server: S3Server, proxied: FaultProxy
) -> None:
    name = moto_server.create_bucket("writes")
    try:
        storage = _storage(name)
        with pytest.raises(ObjectNotFoundError):
            storage.get("index.json")
        faults = iter([SLOWDOWN])
        proxied.plan = lambda _n, method, _p: next(faults, FORWARD) if method == "PUT" else FORWARD
        etag = storage.put_new("projects/a.json", b"{}")
        assert storage.get("projects/a.json").etag == etag
        assert [seen.action for seen in proxied.seen if seen.method == "PUT"] == [SLOWDOWN, FORWARD]
        assert storage.requests == proxied.count()
    finally:
        moto_server.delete_bucket(name)
