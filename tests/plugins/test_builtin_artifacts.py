"""Tests for dioptra_builtins.artifacts.utils: directories, tarballs, safe extraction."""

from __future__ import annotations

import io
import os
import tarfile
from pathlib import Path

import pytest
from dioptra_builtins.artifacts.exceptions import UnsafeArchiveError
from dioptra_builtins.artifacts.utils import (
    archive_directory,
    copy_artifact,
    extract_tarfile,
    make_directories,
)


def add_file(archive: tarfile.TarFile, name: str, data: bytes = b"x") -> None:
    info = tarfile.TarInfo(name)
    info.size = len(data)
    archive.addfile(info, io.BytesIO(data))


def add_link(
    archive: tarfile.TarFile, name: str, target: str, kind: bytes = tarfile.SYMTYPE
) -> None:
    info = tarfile.TarInfo(name)
    info.type = kind
    info.linkname = target
    archive.addfile(info)


def add_dir(archive: tarfile.TarFile, name: str) -> None:
    info = tarfile.TarInfo(name)
    info.type = tarfile.DIRTYPE
    info.mode = 0o755
    archive.addfile(info)


def tree(root: Path) -> dict[str, str]:
    """Every entry below root: file contents, 'dir', or '-> target' for links."""
    entries = {}
    for path in sorted(root.rglob("*")):
        key = path.relative_to(root).as_posix()
        if path.is_symlink():
            entries[key] = "-> " + os.readlink(path)
        elif path.is_dir():
            entries[key] = "dir"
        else:
            entries[key] = path.read_text()
    return entries


@pytest.fixture
def sandbox(tmp_path: Path) -> Path:
    """A directory whose only child is 'out', so that any escape from out shows up here."""
    (tmp_path / "out").mkdir()
    return tmp_path


def test_make_directories_creates_nested_dirs_and_is_idempotent(tmp_path: Path) -> None:
    wanted: list[str | Path] = [tmp_path / "a" / "b" / "c", str(tmp_path / "d")]
    created = make_directories(wanted)
    assert created == [tmp_path / "a" / "b" / "c", tmp_path / "d"]
    assert all(path.is_dir() for path in created)
    assert make_directories(wanted) == created


def test_extract_tarfile_unpacks_files_dirs_and_inner_links(sandbox: Path) -> None:
    tarball = sandbox / "good.tar.gz"
    with tarfile.open(tarball, "w:gz") as archive:
        add_dir(archive, "data")
        add_file(archive, "data/train.csv", b"1,2\n")
        add_file(archive, "data/sub/test.csv", b"3,4\n")
        add_link(archive, "data/latest.csv", "sub/test.csv")
        add_link(archive, "data/copy.csv", "data/train.csv", kind=tarfile.LNKTYPE)

    result = extract_tarfile(tarball, sandbox / "out")

    assert result == (sandbox / "out").resolve()
    assert tree(sandbox / "out") == {
        "data": "dir",
        "data/copy.csv": "1,2\n",
        "data/latest.csv": "-> sub/test.csv",
        "data/sub": "dir",
        "data/sub/test.csv": "3,4\n",
        "data/train.csv": "1,2\n",
    }
    assert (sandbox / "out" / "data" / "latest.csv").read_text() == "3,4\n"


def test_extract_tarfile_creates_a_missing_output_dir_only_for_a_safe_archive(
    tmp_path: Path,
) -> None:
    with tarfile.open(tmp_path / "bad.tar", "w") as archive:
        add_file(archive, "../x")
    with pytest.raises(UnsafeArchiveError):
        extract_tarfile(tmp_path / "bad.tar", tmp_path / "new" / "dir")
    assert not (tmp_path / "new").exists()

    with tarfile.open(tmp_path / "good.tar", "w") as archive:
        add_file(archive, "x", b"ok")
    extract_tarfile(tmp_path / "good.tar", tmp_path / "new" / "dir")
    assert (tmp_path / "new" / "dir" / "x").read_text() == "ok"


def test_extract_tarfile_refuses_hostile_archive_whole_and_lists_every_problem(
    sandbox: Path,
) -> None:
    tarball = sandbox / "hostile.tar"
    with tarfile.open(tarball, "w") as archive:
        add_file(archive, "innocent.txt")
        add_file(archive, "../evil.txt")
        add_file(archive, "/abs.txt")
        add_link(archive, "escape", "../../outside")

    with pytest.raises(UnsafeArchiveError) as caught:
        extract_tarfile(tarball, sandbox / "out")

    problems = caught.value.problems
    assert len(problems) == 3
    assert "'../evil.txt': parent directory reference" in problems
    assert "'/abs.txt': absolute path" in problems
    assert any(p.startswith("'escape': link target '../../outside' escapes") for p in problems)
    assert str(tarball) in str(caught.value)
    # Refused as a whole: not even the innocent member was written, and nothing outside.
    assert list((sandbox / "out").iterdir()) == []
    assert sorted(p.name for p in sandbox.iterdir()) == ["hostile.tar", "out"]


# Each hostile archive as (member kind, name, link target) rows.
HOSTILE_ARCHIVES = {
    "dotdot-inside-name": ([("file", "a/../../x", "")], "parent directory reference"),
    "absolute-name": ([("file", "/etc/x", "")], "absolute path"),
    "symlink-absolute": ([("sym", "l", "/etc/passwd")], "link to absolute path"),
    "symlink-escape": ([("sym", "d/l", "../../x")], "escapes the directory"),
    "hardlink-escape": ([("hard", "h", "../x")], "escapes the directory"),
    "hardlink-absolute": ([("hard", "h", "/etc/passwd")], "absolute path"),
    "symlink-through-symlink": (
        [("sym", "a", "."), ("sym", "b", "a/../escape")],
        "runs through another link",
    ),
    "link-inside-linked-dir": ([("sym", "a", "."), ("sym", "a/l", "../x")], "runs through link"),
    "file-inside-linked-dir": ([("sym", "a", "."), ("file", "a/f", "")], "runs through link"),
    "fifo": ([("fifo", "fifo", "")], "device or fifo"),
    "char-device": ([("chr", "dev", "")], "device or fifo"),
}
KINDS = {"sym": tarfile.SYMTYPE, "hard": tarfile.LNKTYPE, "fifo": tarfile.FIFOTYPE}
KINDS["chr"] = tarfile.CHRTYPE


@pytest.mark.parametrize(("members", "reason"), HOSTILE_ARCHIVES.values(), ids=HOSTILE_ARCHIVES)
def test_extract_tarfile_refuses_each_hostile_member(
    sandbox: Path, members: list[tuple[str, str, str]], reason: str
) -> None:
    tarball = sandbox / "hostile.tar"
    with tarfile.open(tarball, "w") as archive:
        for kind, name, target in members:
            if kind == "file":
                add_file(archive, name)
            else:
                add_link(archive, name, target, kind=KINDS[kind])

    with pytest.raises(UnsafeArchiveError, match=reason):
        extract_tarfile(tarball, sandbox / "out")

    assert list((sandbox / "out").iterdir()) == []
    assert sorted(p.name for p in sandbox.iterdir()) == ["hostile.tar", "out"]


def test_extract_tarfile_lets_a_broken_archive_fail_and_changes_nothing(sandbox: Path) -> None:
    (sandbox / "broken.tar.gz").write_bytes(b"\x1f\x8b this is not a tarball")
    with pytest.raises(tarfile.ReadError):
        extract_tarfile(sandbox / "broken.tar.gz", sandbox / "out")
    assert list((sandbox / "out").iterdir()) == []


def test_extract_tarfile_replaces_existing_symlink_instead_of_writing_through_it(
    sandbox: Path,
) -> None:
    outside = sandbox / "outside"
    outside.mkdir()
    (sandbox / "out" / "data").mkdir()
    (sandbox / "out" / "data" / "keep.txt").write_text("old")
    (sandbox / "out" / "data" / "link").symlink_to(outside)
    tarball = sandbox / "update.tar"
    with tarfile.open(tarball, "w") as archive:
        add_file(archive, "data/link/evil.txt", b"payload")
        add_file(archive, "data/keep.txt", b"new")

    extract_tarfile(tarball, sandbox / "out")

    assert list(outside.iterdir()) == []
    assert tree(sandbox / "out") == {
        "data": "dir",
        "data/keep.txt": "new",
        "data/link": "dir",
        "data/link/evil.txt": "payload",
    }


def test_extract_tarfile_merges_into_existing_directories(sandbox: Path) -> None:
    (sandbox / "out" / "data").mkdir()
    (sandbox / "out" / "data" / "old.txt").write_text("old")
    tarball = sandbox / "more.tar"
    with tarfile.open(tarball, "w") as archive:
        add_file(archive, "data/new.txt", b"new")

    extract_tarfile(tarball, sandbox / "out")

    assert tree(sandbox / "out") == {"data": "dir", "data/new.txt": "new", "data/old.txt": "old"}


def test_archive_directory_round_trips_through_extract_tarfile(tmp_path: Path) -> None:
    source = tmp_path / "results"
    (source / "plots").mkdir(parents=True)
    (source / "metrics.json").write_text('{"accuracy": 1.0}')
    (source / "plots" / "loss.txt").write_text("0.1")

    tarball = archive_directory(source, tmp_path / "artifacts" / "results.tar.gz")
    extract_tarfile(tarball, tmp_path / "restored")

    assert tree(tmp_path / "restored" / "results") == tree(source)
    with tarfile.open(tarball) as archive:
        assert {m.uid for m in archive.getmembers()} == {0}
        assert {m.uname for m in archive.getmembers()} == {""}


def test_archive_directory_refuses_a_file(tmp_path: Path) -> None:
    (tmp_path / "f").write_text("x")
    with pytest.raises(NotADirectoryError, match="not a directory"):
        archive_directory(tmp_path / "f", tmp_path / "f.tar.gz")


def test_copy_artifact_copies_files_and_trees(tmp_path: Path) -> None:
    (tmp_path / "model.bin").write_bytes(b"\x00\x01")
    (tmp_path / "run" / "logs").mkdir(parents=True)
    (tmp_path / "run" / "logs" / "a.log").write_text("log")

    copied_file = copy_artifact(tmp_path / "model.bin", tmp_path / "store")
    copied_tree = copy_artifact(tmp_path / "run", tmp_path / "store")

    assert copied_file == tmp_path / "store" / "model.bin"
    assert copied_file.read_bytes() == b"\x00\x01"
    assert copied_tree == tmp_path / "store" / "run"
    assert (copied_tree / "logs" / "a.log").read_text() == "log"
