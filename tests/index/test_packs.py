"""Document packs: one object holding a root's project documents, so that a cold sync of many
projects reads them in one request; never trusted beyond the sha256s the root pins."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from index_wheels import write_wheel

from dioptra_plugins import sync
from dioptra_plugins.errors import ConflictError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.keys import PACK_PREFIX, ROOT_KEY, pack_key
from dioptra_plugins.index.packs import PACK_FROM, pack_lines
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.publishing.yank import set_yanked

COUNT = PACK_FROM + 4


def _wheels(directory: Path, count: int = COUNT, version: str = "1.0.0") -> list[Path]:
    return [
        write_wheel(directory / f"w{number}-{version}", f"pkg{number:02d}", version, tasks=1)
        for number in range(count)
    ]


def _root(storage: Storage) -> tuple[RootDocument, str]:
    data = storage.get(ROOT_KEY).data
    return RootDocument.from_bytes(data), sha256_hex(data)


def _packs(storage: Storage) -> list[str]:
    return [info.key for info in storage.list(PACK_PREFIX)]


def _documents(storage: Storage, root: RootDocument) -> list[bytes]:
    return [storage.get(entry.document).data for _, entry in sorted(root.projects.items())]


def test_a_swap_writes_the_pack_of_its_root_and_removes_the_one_before(
    index_url: str, tmp_path: Path
) -> None:
    storage = open_storage(index_url)
    publish(storage, _wheels(tmp_path))
    root, sha256 = _root(storage)
    assert _packs(storage) == [pack_key(sha256)]
    # Exactly the stored documents, one a line, in project order.
    assert storage.get(pack_key(sha256)).data == b"".join(
        data + b"\n" for data in _documents(storage, root)
    )

    publish(storage, [write_wheel(tmp_path / "new", "pkg03", "2.0.0", tasks=1)])
    set_yanked(storage, "pkg05", "1.0.0", yanked=True, reason="broken")
    root, sha256 = _root(storage)
    assert _packs(storage) == [pack_key(sha256)]
    assert storage.get(pack_key(sha256)).data == b"".join(
        data + b"\n" for data in _documents(storage, root)
    )


def test_a_small_index_gets_no_pack(index_url: str, tmp_path: Path) -> None:
    storage = open_storage(index_url)
    publish(storage, _wheels(tmp_path, PACK_FROM - 1))
    assert _packs(storage) == []


def test_a_swap_without_the_previous_pack_reads_the_documents(
    index_url: str, tmp_path: Path
) -> None:
    """An index written before packs existed (or whose pack was lost) gets a complete one."""
    local = str(tmp_path / "index")
    storage = open_storage(local)
    publish(storage, _wheels(tmp_path))
    _root_before, sha256 = _root(storage)
    (tmp_path / "index" / pack_key(sha256)).unlink()
    publish(storage, [write_wheel(tmp_path / "new", "pkg00", "2.0.0", tasks=1)])
    root, sha256 = _root(storage)
    lines = storage.get(pack_key(sha256)).data.splitlines()
    assert lines == _documents(storage, root)


def test_a_lost_swap_removes_its_own_pack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    storage = open_storage(str(tmp_path / "index"))
    publish(storage, _wheels(tmp_path))
    replace = type(storage).replace
    lost: list[str] = []

    def lose_once(self: Storage, key: str, data: bytes, if_match: str | None) -> str:
        if key == ROOT_KEY and not lost:
            lost.append(sha256_hex(data))
            # A rival writer swaps in another root first.
            publish(storage, [write_wheel(tmp_path / "rival", "pkg01", "2.0.0", tasks=1)])
            raise ConflictError("another writer was first")
        return replace(self, key, data, if_match)

    monkeypatch.setattr(type(storage), "replace", lose_once)
    publish(storage, [write_wheel(tmp_path / "new", "pkg00", "2.0.0", tasks=1)])
    root, sha256 = _root(storage)
    assert root.projects["pkg00"].latest == "2.0.0"
    assert root.projects["pkg01"].latest == "2.0.0"
    assert pack_key(lost[0]) not in _packs(storage)
    assert _packs(storage) == [pack_key(sha256)]


def _sync_requests(index: str, plugin_dir: Path) -> int:
    result = sync([f"pkg{number:02d}" for number in range(COUNT)], index=index,
                  plugin_dir=plugin_dir)  # fmt: skip
    return result.requests


def test_a_cold_sync_reads_the_documents_from_the_pack(index_url: str, tmp_path: Path) -> None:
    storage = open_storage(index_url)
    publish(storage, _wheels(tmp_path))
    # The root, the pack, then one request a bundle (none a document).
    assert _sync_requests(index_url, tmp_path / "plugins") == 2 + COUNT


def test_without_a_pack_a_sync_reads_the_documents_one_by_one(
    tmp_path: Path,
) -> None:
    index = tmp_path / "index"
    storage = open_storage(str(index))
    publish(storage, _wheels(tmp_path))
    for path in (index / "packs").iterdir():
        path.unlink()
    # The root, the pack that is not there, every document, every bundle.
    assert _sync_requests(str(index), tmp_path / "plugins") == 2 + 2 * COUNT


@pytest.mark.parametrize(
    "damage",
    ["garbage", "other snapshot", "swapped names", "truncated", "crlf", "empty", "huge line"],
)
def test_a_damaged_or_forged_pack_changes_nothing_installed(
    damage: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """A bucket writer can write the pack: only lines with a sha256 the root pins are taken,
    and the rest is read one by one, so the sync installs exactly what it would without."""
    index = tmp_path / "index"
    storage = open_storage(str(index))
    publish(storage, _wheels(tmp_path))
    old_root, old_sha256 = _root(storage)
    old_pack = storage.get(pack_key(old_sha256)).data
    publish(storage, _wheels(tmp_path / "v2", version="2.0.0"))
    root, sha256 = _root(storage)
    pack = index / pack_key(sha256)
    lines = pack.read_bytes().splitlines()
    forged = {
        "garbage": b"\x00\xff not json\n" * 50,
        # The documents of version 1.0.0: valid, signed-looking, but not what this root pins.
        "other snapshot": old_pack,
        "swapped names": b"\n".join(
            line.replace(b'"pkg01"', b'"pkg02"') if b'"pkg01"' in line else line for line in lines
        ),
        "truncated": pack.read_bytes()[: len(pack.read_bytes()) // 2],
        "crlf": b"\r\n".join(lines),
        "empty": b"",
        "huge line": b"x" * (4 * 1024 * 1024) + b"\n" + b"\n".join(lines[:3]),
    }[damage]
    pack.write_bytes(forged)
    assert old_root.serial < root.serial
    with caplog.at_level(logging.DEBUG):
        result = sync([f"pkg{number:02d}" for number in range(COUNT)], index=str(index),
                      plugin_dir=tmp_path / "plugins")  # fmt: skip
    assert result.installed == {f"pkg{number:02d}": "2.0.0" for number in range(COUNT)}


def test_pack_lines_take_only_what_the_root_pins(tmp_path: Path) -> None:
    storage = open_storage(str(tmp_path / "index"))
    publish(storage, _wheels(tmp_path))
    root, sha256 = _root(storage)
    wanted = {entry.sha256: name for name, entry in root.projects.items() if name < "pkg05"}
    found = pack_lines(storage, sha256, wanted)
    assert set(found) == set(wanted)
    assert all(sha256_hex(data) == key for key, data in found.items())
    assert pack_lines(storage, "0" * 64, wanted) == {}


def test_check_lists_a_pack_a_crashed_writer_left_as_unreferenced(tmp_path: Path) -> None:
    from dioptra_plugins.publishing.check import check_index

    storage = open_storage(str(tmp_path / "index"))
    publish(storage, _wheels(tmp_path))
    assert check_index(storage).unreferenced == []  # the current root's pack is reached
    stray = pack_key("ab" * 32)  # a writer killed between its pack and its swap
    storage.put_new(stray, b"")
    report = check_index(storage)
    assert report.unreferenced == [stray]
    assert report.ok


def test_no_pack_is_written_past_its_size_limit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Each swap copies the pack: an index whose documents outgrow the limit gets none (and
    the one of the root it replaces is still removed), and its syncs read documents one by one."""
    from dioptra_plugins.index import packs

    storage = open_storage(str(tmp_path / "index"))
    publish(storage, _wheels(tmp_path))
    root, _sha256 = _root(storage)
    size = sum(len(data) + 1 for data in _documents(storage, root))
    monkeypatch.setattr(packs, "PACK_MAX_BYTES", 2 * size)
    publish(storage, [write_wheel(tmp_path / "new", "pkg00", "2.0.0", tasks=1)])
    assert len(_packs(storage)) == 1
    monkeypatch.setattr(packs, "PACK_MAX_BYTES", size // 2)
    publish(storage, [write_wheel(tmp_path / "newer", "pkg00", "3.0.0", tasks=1)])
    assert _packs(storage) == []
    assert _sync_requests(str(tmp_path / "index"), tmp_path / "plugins") == 2 + 2 * COUNT


def test_a_locked_sync_reads_the_documents_as_a_resolution_does(tmp_path: Path) -> None:
    """``sync --locked`` of many packages reads their documents from the pack (it read them
    one by one, one request after the other, before)."""
    index = str(tmp_path / "index")
    publish(open_storage(index), _wheels(tmp_path))
    _sync_requests(index, tmp_path / "first")
    lock = tmp_path / "first" / ".dioptra-plugins" / "current" / "pylock.toml"
    result = sync(locked=lock, index=index, plugin_dir=tmp_path / "second")
    assert result.installed == {f"pkg{number:02d}": "1.0.0" for number in range(COUNT)}
    assert result.requests == 2 + COUNT  # the root, the pack, the bundles


def test_check_and_list_read_the_documents_from_the_pack(tmp_path: Path) -> None:
    """``index check`` and ``index list`` read a big index's documents in one request, and a
    forged pack changes nothing they report."""
    from click.testing import CliRunner

    from dioptra_plugins.cli.main import main
    from dioptra_plugins.publishing.check import check_index

    index = tmp_path / "index"
    storage = open_storage(str(index))
    publish(storage, _wheels(tmp_path))
    before = storage.requests
    report = check_index(storage)
    with_pack = storage.requests - before
    assert report.ok
    assert report.projects == COUNT

    def listed() -> str:
        result = CliRunner().invoke(main, ["index", "list", "--index", str(index), "--json"])
        assert result.exit_code == 0, result.output
        return result.output

    expected = listed()
    _root_now, sha256 = _root(storage)
    (index / pack_key(sha256)).write_bytes(b"forged\n")
    assert listed() == expected
    before = storage.requests
    assert check_index(storage).projects == COUNT
    assert storage.requests - before == with_pack + COUNT  # the useless pack, then each document


def test_publishing_one_wheel_into_a_big_index_reads_no_document_one_by_one(
    tmp_path: Path,
) -> None:
    """The catalogue's pages after a swap need every document of the root: they come from the
    pack the swap just wrote, not one request each."""
    storage = open_storage(str(tmp_path / "index"))
    publish(storage, _wheels(tmp_path))
    before = storage.requests
    publish(storage, [write_wheel(tmp_path / "new", "pkg03", "2.0.0", tasks=1)])
    # What a one-wheel publish to an existing project costs on a small index (20:
    # tests/index/test_publish.py), plus the pack: the previous one read, the new one written
    # and the previous one removed by the swap, and the new one read for the catalogue.
    assert storage.requests - before == 20 + 4
