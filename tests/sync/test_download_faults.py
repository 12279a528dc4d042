"""A full disk (or quota, or read-only file system) while a big bundle is written to its
temporary file.

It is not a network fault: the download fails at once, with one SyncError naming the path and
the reason, and is not tried again.  The fault is narrow: only the temporary file that
``download`` writes is replaced by one whose writes fail, and every bundle counts as big (small
ones are downloaded into memory; a full disk while extracting is tested in test_sync_integrity).
"""

from __future__ import annotations

import errno
import io
import time
from pathlib import Path
from typing import BinaryIO

import pytest
from click.testing import CliRunner
from synchelpers import installed, publish_wheels, snapshot

from dioptra_plugins import sync
from dioptra_plugins.cli.main import main
from dioptra_plugins.errors import SyncError
from dioptra_plugins.index.local import LocalStorage
from dioptra_plugins.syncing import download

REASONS = {
    errno.ENOSPC: "no space left on device",
    errno.EDQUOT: "disk quota exceeded",
    errno.EROFS: "read-only file system",
}


class FailingFile(io.BufferedWriter):
    """A real temporary file whose first write fails with ``error_number``."""

    def __init__(self, path: Path, error_number: int) -> None:
        super().__init__(io.FileIO(path, "wb"))
        self.error_number = error_number

    def write(self, data: object) -> int:
        raise OSError(self.error_number, REASONS[self.error_number])


@pytest.fixture
def index(tmp_path: Path, wheels: dict[str, Path]) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, [wheels["alpha-1.0.0"], wheels["beta-1.0.0"], wheels["alpha-1.1.0"]])
    return url


@pytest.fixture
def disk_fault(monkeypatch: pytest.MonkeyPatch) -> dict[str, object]:
    """Make every temporary cache file fail; ``state["opened"]`` counts the attempts.

    Only a big bundle downloaded first is written to a file (one read while it downloads is
    held in memory): here the storage cannot read a tail, like an HTTP host ignoring ``Range``.
    """
    state: dict[str, object] = {"opened": [], "errno": errno.ENOSPC}

    def create(path: Path) -> BinaryIO:
        opened = state["opened"]
        assert isinstance(opened, list)
        opened.append(path)
        number = state["errno"]
        assert isinstance(number, int)
        return FailingFile(path, number)

    monkeypatch.setattr(download, "_create", create)
    monkeypatch.setattr(download, "IN_MEMORY_LIMIT", 0)
    monkeypatch.setattr(LocalStorage, "read_tail", lambda self, key, length: None)
    return state


@pytest.mark.parametrize("error_number", sorted(REASONS), ids=errno.errorcode.get)
def test_a_full_disk_fails_at_once(
    index: str, tmp_path: Path, disk_fault: dict[str, object], error_number: int
) -> None:
    plugin_dir = tmp_path / "plugins"
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(download, "_create", lambda path: path.open("xb", buffering=0))
        sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    before = snapshot(plugin_dir)
    disk_fault["errno"] = error_number
    slept: list[float] = []
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(time, "sleep", slept.append)  # the retries' back-off
        with pytest.raises(SyncError) as caught:
            sync(["beta", "alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    opened = disk_fault["opened"]
    assert isinstance(opened, list)
    assert len(opened) == 1  # one attempt: a full disk is not retried
    assert slept == []
    cache = plugin_dir / ".dioptra-plugins" / "cache"
    message = str(caught.value)
    assert message.startswith(f"cannot write {cache}/")
    assert message.endswith(
        f"-py3-none-any.whl (downloading beta-1.0.0-py3-none-any.whl): {REASONS[error_number]}"
    )
    assert "failed 3 times" not in message
    assert not any(p.name.startswith(".tmp-") for p in cache.rglob("*"))
    assert snapshot(plugin_dir) == before
    assert installed(plugin_dir) == {"alpha": "1.0.0"}


def test_the_cli_says_it_once(
    index: str, tmp_path: Path, disk_fault: dict[str, object], caplog: pytest.LogCaptureFixture
) -> None:
    plugin_dir = tmp_path / "plugins"
    done = CliRunner().invoke(
        main, ["sync", "alpha", "--index", index, "--plugin-dir", str(plugin_dir)]
    )
    assert done.exit_code == 1
    assert done.exception is None or isinstance(done.exception, SystemExit)
    assert done.stdout == ""
    assert done.stderr.count("no space left on device") == 1
    assert done.stderr.startswith("error: cannot write ")
    assert "Traceback" not in done.stderr
    assert "retrying" not in done.stderr + caplog.text
    assert installed(plugin_dir) == {}


def test_a_broken_stream_is_still_retried(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The contrast: a connection reset while reading the bundle is a network fault."""
    calls: list[object] = []
    real_stream_once = download._stream_once

    def flaky(
        storage: object, layout: object, package: object, meter: object, sent: object = None
    ) -> object:
        calls.append(package)
        if len(calls) == 1:
            raise ConnectionResetError(errno.ECONNRESET, "connection reset by peer")
        return real_stream_once(storage, layout, package, meter, sent)  # type: ignore[arg-type]

    monkeypatch.setattr(download, "_stream_once", flaky)
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)  # the retries' back-off
    result = sync(["alpha==1.0.0"], index=index, plugin_dir=tmp_path / "plugins")
    assert result.switched
    assert len(calls) == 2
