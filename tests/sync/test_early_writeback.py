"""Flushes while bundles are still being stored: the final flush still runs before the switch,
and a failure an early flush meets fails the sync as the final flush's would.

The one narrow fake is the C library's ``syncfs`` (as in ``test_flush_failure.py``): it
records which thread called it and then flushes for real, or fails with EIO as Linux does
when pages could not be written; everything else is real.
"""

from __future__ import annotations

import ctypes
import errno
import threading
from pathlib import Path

import pytest
from synchelpers import build, installed, publish_wheels, snapshot

from dioptra_plugins import fsutil, sync
from dioptra_plugins.errors import SyncError
from dioptra_plugins.plugindir.verify_dir import verify
from dioptra_plugins.syncing import writeback

PROJECTS = [f"proj{number}" for number in range(7)]


class RecordingLibrary:
    """syncfs that notes the calling thread's name, then flushes (or fails in ``failing``)."""

    def __init__(self, failing: str | None = None) -> None:
        self.failing = failing
        self.callers: list[str] = []
        self._real = ctypes.CDLL(None, use_errno=True).syncfs

    def syncfs(self, descriptor: int) -> int:
        caller = threading.current_thread().name
        self.callers.append(caller)
        if caller == self.failing:
            ctypes.set_errno(errno.EIO)
            return -1
        return int(self._real(descriptor))


@pytest.fixture(scope="module")
def many(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    workdir = tmp_path_factory.mktemp("many")
    return [build(workdir, name, "1.0.0", modules=1) for name in PROJECTS]


@pytest.fixture
def index(tmp_path: Path, many: list[Path], wheels: dict[str, Path]) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, [*many, wheels["alpha-1.0.0"], wheels["alpha-1.1.0"]])
    return url


@pytest.fixture
def every_two(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(writeback, "EVERY_BUNDLES", 2)


def test_a_cold_sync_flushes_while_storing_and_once_more_before_the_switch(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every_two: None
) -> None:
    library = RecordingLibrary()
    monkeypatch.setattr(fsutil, "_c_library", lambda: library)
    plugin_dir = tmp_path / "plugins"
    result = sync(PROJECTS, index=index, plugin_dir=plugin_dir, jobs=1)
    assert result.switched
    assert verify(plugin_dir).ok
    # One bundle at a time: a flush asked for after the 2nd, 4th and 6th bundle; each runs,
    # unless it was asked for while the one before was still running (then they are one).
    early = [caller for caller in library.callers if caller == "early-writeback"]
    assert 1 <= len(early) <= 3
    assert library.callers[-1] != "early-writeback"  # the switch's own flush comes last
    assert library.callers.count(library.callers[-1]) == 1
    assert installed(plugin_dir) == dict.fromkeys(PROJECTS, "1.0.0")


def test_a_one_bundle_change_starts_no_thread(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every_two: None
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    library = RecordingLibrary()
    monkeypatch.setattr(fsutil, "_c_library", lambda: library)
    started: list[writeback.EarlyWriteback] = []

    def run(self: writeback.EarlyWriteback) -> None:
        started.append(self)

    monkeypatch.setattr(writeback.EarlyWriteback, "_run", run)
    sync(["alpha==1.1.0"], index=index, plugin_dir=plugin_dir)
    assert library.callers == [threading.current_thread().name]
    assert started == []


def test_a_write_back_failure_seen_early_fails_the_sync_and_nothing_switches(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, every_two: None
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    before = snapshot(plugin_dir)
    library = RecordingLibrary(failing="early-writeback")
    monkeypatch.setattr(fsutil, "_c_library", lambda: library)
    with pytest.raises(SyncError, match="Input/output error"):
        sync(["alpha==1.1.0", *PROJECTS], index=index, plugin_dir=plugin_dir, jobs=1)
    assert "early-writeback" in library.callers
    # The switch's flush never ran: the failure stopped the sync first.
    assert threading.current_thread().name not in library.callers
    assert installed(plugin_dir) == {"alpha": "1.0.0"}
    # Byte for byte as before: the failed sync took back the store entries it made.
    assert snapshot(plugin_dir) == before


def test_a_failing_sync_does_not_wait_for_an_early_flush(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Leaving by an exception neither waits for a flush under way nor raises its error."""
    release = threading.Event()
    flushing = threading.Event()

    def stuck_flush(path: Path) -> None:
        flushing.set()
        release.wait(30)
        raise OSError(errno.EIO, "never seen")

    monkeypatch.setattr(writeback, "flush_filesystem", stuck_flush)

    def failing_sync() -> None:
        with writeback.EarlyWriteback(tmp_path) as early:
            for _ in range(writeback.EVERY_BUNDLES):
                early.stored(1)
            assert flushing.wait(10)
            raise KeyError("the sync failed")

    try:
        with pytest.raises(KeyError, match="the sync failed"):
            failing_sync()
        assert not release.is_set()  # left while the flush was still stuck
    finally:
        release.set()
