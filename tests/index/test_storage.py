"""Every storage operation against the local directory, moto and a real SeaweedFS server."""

from __future__ import annotations

import io
import threading
from pathlib import Path

import pytest

from dioptra_plugins.errors import (
    ConflictError,
    ObjectExistsError,
    ObjectNotFoundError,
    UsageError,
)
from dioptra_plugins.index.storage import NotModified, Storage, StoredObject
from dioptra_plugins.index.url import open_storage


@pytest.fixture
def storage(index_url: str) -> Storage:
    return open_storage(index_url)


def stored(storage: Storage, key: str) -> StoredObject:
    result = storage.get(key)
    assert isinstance(result, StoredObject)
    return result


def test_get_of_a_missing_key_is_not_found(storage: Storage) -> None:
    with pytest.raises(ObjectNotFoundError, match=r"nothing/here\.json"):
        storage.get("nothing/here.json")
    with pytest.raises(ObjectNotFoundError):
        storage.open("nothing/here.json")


def test_put_new_creates_once_and_never_overwrites(storage: Storage) -> None:
    etag = storage.put_new("bundles/a/a-1.0-py3-none-any.whl", b"first")
    got = stored(storage, "bundles/a/a-1.0-py3-none-any.whl")
    assert (got.data, got.etag) == (b"first", etag)
    with pytest.raises(ObjectExistsError, match="already exists"):
        storage.put_new("bundles/a/a-1.0-py3-none-any.whl", b"second")
    with pytest.raises(ObjectExistsError):
        storage.put_new("bundles/a/a-1.0-py3-none-any.whl", b"first")  # even identical bytes
    assert stored(storage, "bundles/a/a-1.0-py3-none-any.whl").data == b"first"


def test_put_new_streams_a_file_object(storage: Storage, tmp_path: Path) -> None:
    payload = bytes(range(256)) * 4096  # 1 MiB
    source = tmp_path / "payload.bin"
    source.write_bytes(payload)
    with source.open("rb") as stream:
        storage.put_new("bundles/big/big.whl", stream)
    with storage.open("bundles/big/big.whl") as reader:
        assert reader.read() == payload


def test_read_tail_is_the_end_of_an_object_in_one_request(storage: Storage) -> None:
    payload = bytes(range(256)) * 1024
    storage.put_new("bundles/t/t.whl", payload)
    before = storage.requests
    assert storage.read_tail("bundles/t/t.whl", 1000) == payload[-1000:]
    assert storage.requests == before + 1
    assert storage.read_tail("bundles/t/t.whl", len(payload) + 5) == payload  # shorter object
    with pytest.raises(ObjectNotFoundError, match=r"nothing/here\.whl"):
        storage.read_tail("nothing/here.whl", 10)


def test_conditional_get_answers_not_modified(storage: Storage) -> None:
    etag = storage.put_new("index.json", b'{"serial": 1}')
    result = storage.get_if_changed("index.json", etag)
    assert result == NotModified("index.json", etag)
    other = storage.get_if_changed("index.json", '"0123456789abcdef"')
    assert isinstance(other, StoredObject)
    assert other.data == b'{"serial": 1}'


def test_replace_is_compare_and_swap(storage: Storage) -> None:
    first = storage.replace("index.json", b"one", None)
    with pytest.raises(ConflictError):
        storage.replace("index.json", b"clobber", None)  # create-only form: must be absent
    second = storage.replace("index.json", b"two", first)
    assert second != first
    assert stored(storage, "index.json") == StoredObject("index.json", b"two", second)
    with pytest.raises(ConflictError):
        storage.replace("index.json", b"stale", first)
    assert stored(storage, "index.json").data == b"two"
    # If-Match on a key that does not exist is a conflict too (moto says 404, others 412).
    with pytest.raises(ConflictError):
        storage.replace("other.json", b"x", second)


def test_only_one_of_many_concurrent_swaps_wins(storage: Storage) -> None:
    etag = storage.replace("index.json", b"start", None)
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def contender(number: int) -> None:
        barrier.wait()
        try:
            storage.replace("index.json", f"writer {number}".encode(), etag)
            outcomes.append("won")
        except ConflictError:
            outcomes.append("lost")

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]
    assert stored(storage, "index.json").data.startswith(b"writer ")


def test_only_one_of_many_concurrent_creates_wins(storage: Storage) -> None:
    outcomes: list[str] = []
    barrier = threading.Barrier(8)

    def contender(number: int) -> None:
        barrier.wait()
        try:
            storage.put_new("projects/x/doc.json", f"writer {number}".encode())
            outcomes.append("won")
        except ObjectExistsError:
            outcomes.append("lost")

    threads = [threading.Thread(target=contender, args=(n,)) for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(outcomes) == ["lost"] * 7 + ["won"]


def test_list_returns_keys_in_order_with_sizes(storage: Storage) -> None:
    assert list(storage.list()) == []
    for key, data in [
        ("projects/b/2.json", b"22"),
        ("bundles/a/a.whl", b"1"),
        ("projects/a/1.json", b"333"),
        ("index.json", b"{}"),
    ]:
        storage.put_new(key, data)
    assert [(i.key, i.size) for i in storage.list("projects/")] == [
        ("projects/a/1.json", 3),
        ("projects/b/2.json", 2),
    ]
    assert [i.key for i in storage.list()] == [
        "bundles/a/a.whl",
        "index.json",
        "projects/a/1.json",
        "projects/b/2.json",
    ]


def test_requests_are_counted(storage: Storage) -> None:
    before = storage.requests
    storage.put_new("a.json", b"1")
    storage.get("a.json")
    assert storage.requests == before + 2


@pytest.mark.parametrize("key", ["", "/abs", "a/../b", "a//b", ".tmp/x", "a\\b", "./a"])
def test_keys_that_could_escape_are_refused(tmp_path: Path, key: str) -> None:
    storage = open_storage(str(tmp_path / "index"))
    with pytest.raises(UsageError, match="invalid index key"):
        storage.put_new(key, io.BytesIO(b"x"))
