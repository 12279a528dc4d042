"""fsutil.write_atomic, the one atomic write: durable by default, lighter where a file's loss
harms nobody (a cache checked on read, a pin), and never hiding the error that stopped it."""

from __future__ import annotations

import errno
import os
from pathlib import Path

import pytest

from dioptra_plugins.fsutil import write_atomic


def _count_fsyncs(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    calls: list[int] = []
    real = os.fsync

    def counting(descriptor: int) -> None:
        calls.append(descriptor)
        real(descriptor)

    monkeypatch.setattr(os, "fsync", counting)
    return calls


def test_replaces_the_file_and_leaves_no_temporary(tmp_path: Path) -> None:
    target = tmp_path / "state.json"
    target.write_bytes(b"old")
    write_atomic(target, b"new")
    assert target.read_bytes() == b"new"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["state.json"]


def test_durable_by_default_and_not_when_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = _count_fsyncs(monkeypatch)
    write_atomic(tmp_path / "a", b"1")
    assert len(calls) == 2  # the file, then the directory holding the rename
    calls.clear()
    write_atomic(tmp_path / "b", b"2", durable=False)
    assert calls == []
    assert (tmp_path / "b").read_bytes() == b"2"


def test_the_temporary_can_be_named_for_its_directorys_cleaner(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    renamed: list[tuple[str, str]] = []
    real = os.replace

    def recording(source: Path, target: Path) -> None:
        renamed.append((Path(source).name, Path(target).name))
        real(source, target)

    monkeypatch.setattr(os, "replace", recording)
    write_atomic(tmp_path / "123-abcd.json", b"{}", durable=False, temporary="123-abcd.tmp")
    write_atomic(tmp_path / "doc.json", b"{}")
    assert renamed[0] == ("123-abcd.tmp", "123-abcd.json")
    assert renamed[1][0].startswith(".doc.json.tmp-")


def test_a_failed_cleanup_does_not_replace_the_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """On a read-only file system unlink says EROFS even for a temporary never created: the
    caller must still see why the write failed (pins tell 'cannot write here' by errno)."""

    def refusing_unlink(self: Path, missing_ok: bool = False) -> None:
        raise OSError(errno.EROFS, "Read-only file system", str(self))

    monkeypatch.setattr(Path, "unlink", refusing_unlink)
    with pytest.raises(FileNotFoundError):
        write_atomic(tmp_path / "no such dir" / "file", b"x")


def test_a_pin_goes_through_a_temporary_gc_can_tell_by_its_pid(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A half-written pin of a dead process must be collected by ``remove_dead_pins``, which
    reads the pid from the name: the temporary is ``<pid>-<token>.tmp``, not write_atomic's
    default ``.<name>.tmp-*``.  A pin is not fsynced: a crash ends the process it protects."""
    import json

    from dioptra_plugins.plugindir.pins import _write_pin

    renamed: list[str] = []
    real = os.replace

    def recording(source: Path, target: Path) -> None:
        renamed.append(Path(source).name)
        real(source, target)

    monkeypatch.setattr(os, "replace", recording)
    calls = _count_fsyncs(monkeypatch)
    pin = _write_pin(tmp_path / "pins", 4242, "7")
    assert renamed == [pin.with_suffix(".tmp").name]
    assert renamed[0].startswith("4242-")
    assert calls == []
    assert json.loads(pin.read_text()) == {"pid": 4242, "generation": "7"}
