"""A write-back that fails at the flush before the switch: the sync fails, nothing switches.

The one narrow fake is the C library's ``syncfs``, which returns -1 with ``errno`` EIO as Linux
does (since 5.8) when pages of the filesystem could not be written; everything else is real.
"""

from __future__ import annotations

import ctypes
import errno
from pathlib import Path

import pytest
from synchelpers import installed, publish_wheels, snapshot

from dioptra_plugins import fsutil, sync
from dioptra_plugins.errors import SyncError


class FailingLibrary:
    def __init__(self, number: int) -> None:
        self.number = number
        self.calls = 0

    def syncfs(self, descriptor: int) -> int:
        self.calls += 1
        ctypes.set_errno(self.number)
        return -1


@pytest.fixture
def index(tmp_path: Path, wheels: dict[str, Path]) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"]])
    return url


def test_a_failed_write_back_is_not_switched_to(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    before = snapshot(plugin_dir)
    library = FailingLibrary(errno.EIO)
    monkeypatch.setattr(fsutil, "_c_library", lambda: library)
    with pytest.raises(SyncError, match="Input/output error"):
        sync(["alpha==1.1.0"], index=index, plugin_dir=plugin_dir)
    assert library.calls == 1
    assert installed(plugin_dir) == {"alpha": "1.0.0"}
    # What a reader sees is unchanged (the new bundle may stay in the store, unlinked).
    assert {k: v for k, v in snapshot(plugin_dir).items() if "/store/" not in k} == {
        k: v for k, v in before.items() if "/store/" not in k
    }


def test_a_missing_syncfs_falls_back_to_sync(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = FailingLibrary(errno.ENOSYS)
    monkeypatch.setattr(fsutil, "_c_library", lambda: library)
    result = sync(["alpha==1.1.0"], index=index, plugin_dir=tmp_path / "plugins")
    assert result.switched
    assert library.calls == 1
    assert installed(tmp_path / "plugins") == {"alpha": "1.1.0"}
