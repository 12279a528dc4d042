"""A failed sync removes the store entries it created (issue 21, item 9).

Seen on main: a sync that ran out of disk left two store entries no generation linked to, 76 KB
of a 200 KB file system, until someone ran gc.  Whatever ends a sync before its switch (a full
disk, a bundle that is not what the index lists, an interrupt), the store afterwards holds
exactly what it held before; an entry a kept generation uses is never removed.
"""

from __future__ import annotations

import os
import random
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from synchelpers import CLI, installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.errors import IntegrityError
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.plugindir.verify_dir import verify
from dioptra_plugins.syncing.install import remove_unused_entries, store_entries


@pytest.fixture
def small_filesystem(tmp_path: Path) -> Iterator[Path]:
    """A real 4 MB tmpfs: writes past it fail with ENOSPC, as on a full disk."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mountpoint = tmp_path / "small"
    mountpoint.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=4m", "tmpfs", str(mountpoint)], check=False
    )
    if mounted.returncode != 0:
        pytest.skip("mount -t tmpfs is not permitted here")
    try:
        yield mountpoint
    finally:
        subprocess.run(["umount", "-l", str(mountpoint)], check=False)


def roomy_bundle(tmp_path: Path, name: str = "roomy") -> Path:
    """A bundle whose wheel fits a 4 MB file system (about 17:1) but whose files do not."""
    source = tmp_path / f"src-{name}" / name
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    data = bytearray(6 * 1024 * 1024)
    data[::40] = random.Random(0).randbytes(len(data[::40]))
    (source / "data.bin").write_bytes(bytes(data))
    return build_bundle(source, tmp_path / "wheels", version="1.0.0")


def test_a_full_disk_leaves_no_store_entry_behind(
    wheels: dict[str, Path], tmp_path: Path, small_filesystem: Path
) -> None:
    index = str(tmp_path / "index")
    publish_wheels(
        index,
        [
            wheels["alpha-1.0.0"],
            wheels["alpha-1.1.0"],
            wheels["beta-1.0.0"],
            roomy_bundle(tmp_path),
        ],
    )
    plugin_dir = small_filesystem / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    layout = PluginDirLayout(plugin_dir)
    before = store_entries(layout)
    plugin = str(plugin_dir)
    # One download at a time, in order: alpha 1.1.0 and beta are stored before roomy fills the
    # disk (the two entries the issue saw left behind).
    done = subprocess.run(
        [CLI, "sync", "beta", "roomy", "--jobs", "1", "--index", index, "--plugin-dir", plugin],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1, done.stderr
    assert "No space left on device" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert store_entries(layout) == before
    assert installed(plugin_dir) == {"alpha": "1.0.0"}
    assert verify(plugin_dir).ok


def test_a_bundle_that_fails_verification_takes_the_new_entries_with_it(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    index = tmp_path / "index"
    publish_wheels(str(index), [wheels["alpha-1.1.0"], wheels["beta-1.0.0"], wheels["omega-1.0.0"]])
    publish_wheels(str(index), [wheels["alpha-2.0.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=str(index), plugin_dir=plugin_dir)
    layout = PluginDirLayout(plugin_dir)
    before = store_entries(layout)
    # omega's bundle is replaced behind the index's back: alpha 2.0.0 stores, omega fails.
    (bundle,) = (index / "bundles" / "omega").glob("*.whl")
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    bundle.write_bytes(bytes(data))
    with pytest.raises(IntegrityError):
        sync(["omega"], index=str(index), plugin_dir=plugin_dir, jobs=1)
    assert store_entries(layout) == before
    assert installed(plugin_dir) == {"alpha": "1.1.0", "beta": "1.0.0"}


def test_an_entry_a_generation_uses_is_never_removed(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.1.0"], wheels["alpha-2.0.0"], wheels["beta-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    sync(["alpha==2.0.0"], index=index, plugin_dir=plugin_dir)
    layout = PluginDirLayout(plugin_dir)
    everything = store_entries(layout)
    assert len(everything) == 3
    # Every entry is linked by generation 1 (alpha 1.1.0, beta) or 2 (alpha 2.0.0).
    assert remove_unused_entries(layout, everything) == []
    assert store_entries(layout) == everything
    shutil.rmtree(layout.generation_path("000001"))  # as gc --keep 1 would
    removed = remove_unused_entries(layout, everything)
    assert len(removed) == 2  # alpha 1.1.0 and beta; alpha 2.0.0 is current's
    assert store_entries(layout) == everything - set(removed)
    assert verify(plugin_dir).ok


def test_an_interrupted_gc_leaves_no_half_deleted_store_entry(
    wheels: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Ctrl-C while gc deletes a store entry: without the rename first, ``store/<sha256>``
    stayed half-deleted, and the next sync that needed it linked to it as if it were whole."""
    from dioptra_plugins.plugindir import gc as gc_module

    index = str(tmp_path / "index")
    publish_wheels(
        index,
        [wheels[k] for k in ("alpha-1.1.0", "alpha-2.0.0", "beta-1.0.0", "omega-1.0.0")],
    )
    plugin_dir = tmp_path / "plugins"
    for requirement in ("beta", "alpha==2.0.0", "omega"):
        sync([requirement], index=index, plugin_dir=plugin_dir)
    layout = PluginDirLayout(plugin_dir)
    before = store_entries(layout)
    real_rmtree = shutil.rmtree

    def ctrl_c_inside_store_deletions(path: str, ignore_errors: bool = False) -> None:
        if Path(path).parent != layout.store:
            real_rmtree(path, ignore_errors=ignore_errors)
            return
        next(p for p in Path(path).rglob("*.py") if p.is_file()).unlink()
        raise KeyboardInterrupt

    monkeypatch.setattr(shutil, "rmtree", ctrl_c_inside_store_deletions)
    with pytest.raises(KeyboardInterrupt):
        gc_module.gc(plugin_dir, keep=0)  # generation 1 goes, and alpha 1.1.0's and beta's entries
    monkeypatch.undo()
    assert len(before - store_entries(layout)) == 1  # the one being deleted, whole or not at all
    sync(["beta"], index=index, plugin_dir=plugin_dir)  # needs both entries gc was deleting
    assert installed(plugin_dir) == {"alpha": "1.1.0", "beta": "1.0.0"}
    assert verify(plugin_dir).ok
