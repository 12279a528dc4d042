"""Sync against every backend: install, no-op in one request, upgrade, remove, import."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from synchelpers import CLI, installed, publish_wheels, snapshot, visible

from dioptra_plugins import sync
from dioptra_plugins.errors import SyncError, UsageError
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.plugindir.verify_dir import verify


def run_plugin(plugin_dir: Path, module: str, function: str) -> str:
    """Import a plugin from the plugin dir in a fresh interpreter and call it."""
    code = (
        f"import sys; sys.path.insert(0, {str(plugin_dir)!r}); "
        f"import {module} as m; print(m.{function}(7))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    return done.stdout.strip()


def test_sync_install_noop_upgrade_remove(
    index_url: str, wheels: dict[str, Path], tmp_path: Path
) -> None:
    publish_wheels(index_url, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"], wheels["beta-1.0.0"]])
    plugin_dir = tmp_path / "plugins"

    first = sync(["beta"], index=index_url, plugin_dir=plugin_dir)
    assert first.installed == {"alpha": "1.1.0", "beta": "1.0.0"}
    assert first.switched
    assert first.generation == "000001"
    assert installed(plugin_dir) == {"alpha": "1.1.0", "beta": "1.0.0"}
    assert run_plugin(plugin_dir, "alpha.mod1", "task1") == "alpha-1.1.0-1-7"

    again = sync(["beta"], index=index_url, plugin_dir=plugin_dir)
    assert again.not_modified
    assert not again.switched
    assert again.requests == 1
    assert again.unchanged == {"alpha": "1.1.0", "beta": "1.0.0"}

    publish_wheels(index_url, [wheels["alpha-2.0.0"]])
    changed = sync(["alpha"], index=index_url, plugin_dir=plugin_dir)
    assert changed.upgraded == {"alpha": ("1.1.0", "2.0.0")}
    assert changed.removed == {"beta": "1.0.0"}
    assert changed.downloaded == 1
    assert visible(plugin_dir) == {"alpha": "2.0.0"}
    assert not (plugin_dir / "beta").is_symlink()
    assert run_plugin(plugin_dir, "alpha.mod0", "task0") == "alpha-2.0.0-0-7"
    assert verify(plugin_dir).ok


def test_resync_after_publish_fetches_only_what_changed(
    index_url: str, wheels: dict[str, Path], tmp_path: Path
) -> None:
    publish_wheels(index_url, [wheels["alpha-1.0.0"], wheels["gamma-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha", "gamma"], index=index_url, plugin_dir=plugin_dir)
    publish_wheels(index_url, [wheels["alpha-1.1.0"]])
    result = sync(["alpha", "gamma"], index=index_url, plugin_dir=plugin_dir)
    assert result.upgraded == {"alpha": ("1.0.0", "1.1.0")}
    assert result.unchanged == {"gamma": "1.0.0"}
    # root + alpha's new document + alpha's bundle; gamma's document comes from the cache.
    assert result.requests == 3
    assert result.downloaded == 1


def test_unchanged_root_with_new_requirements_is_not_a_noop(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"], wheels["gamma-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index, plugin_dir=plugin_dir)
    result = sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    assert result.installed == {"gamma": "1.0.0"}
    assert result.unchanged == {"alpha": "1.0.0"}


def test_same_set_again_makes_no_new_generation(wheels: dict[str, Path], tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index, plugin_dir=plugin_dir)
    result = sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    assert not result.switched
    assert result.generation == "000001"
    assert result.unchanged == {"alpha": "1.0.0"}


def test_lower_serial_is_refused(wheels: dict[str, Path], tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    storage = open_storage(index)
    publish_wheels(index, [wheels["alpha-1.0.0"]])
    old_root = storage.get("index.json")
    publish_wheels(index, [wheels["alpha-1.1.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index, plugin_dir=plugin_dir)
    before = snapshot(plugin_dir)

    current = storage.get("index.json")
    storage.replace("index.json", old_root.data, current.etag)
    with pytest.raises(SyncError, match="serial 1 is lower than serial 2"):
        sync(["alpha"], index=index, plugin_dir=plugin_dir)
    assert snapshot(plugin_dir) == before


def test_missing_index_and_plugin_dir_are_reported(tmp_path: Path) -> None:
    with pytest.raises(SyncError, match="no index at"):
        sync(["alpha"], index=str(tmp_path / "nothing"), plugin_dir=tmp_path / "p")
    with pytest.raises(UsageError, match="no plugin dir"):
        sync(["alpha"], index=str(tmp_path / "nothing"), plugin_dir="")


def test_cli_sync_json_and_requirements_file(wheels: dict[str, Path], tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"], wheels["beta-1.0.0"]])
    requirements = tmp_path / "plugins.txt"
    requirements.write_text("# the plugins this worker needs\nbeta  # brings alpha\n\n")
    command = [
        CLI,
        "sync",
        "-r",
        str(requirements),
        "--index",
        index,
        "--plugin-dir",
        str(tmp_path / "plugins"),
        "--json",
    ]
    done = subprocess.run(command, capture_output=True, text=True, check=True)
    summary = json.loads(done.stdout)
    assert summary["installed"] == {"alpha": "1.0.0", "beta": "1.0.0"}
    assert summary["generation"] == "000001"
    again = json.loads(subprocess.run(command, capture_output=True, text=True, check=True).stdout)
    assert again["not_modified"] is True
    assert again["requests"] == 1
