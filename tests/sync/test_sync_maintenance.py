"""list, verify, rollback, gc (with pins) and --locked reproduction, through the API and CLI."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from synchelpers import CLI, installed, publish_wheels, visible

from dioptra_plugins import sync
from dioptra_plugins.errors import IndexFormatError, PluginDirError, SyncError
from dioptra_plugins.plugindir.gc import gc
from dioptra_plugins.plugindir.generations import generation_names
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.plugindir.maintenance import list_plugins, rollback
from dioptra_plugins.plugindir.pins import pin_generation
from dioptra_plugins.plugindir.pylock import read_lock
from dioptra_plugins.plugindir.verify_dir import verify


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"], wheels["beta-1.0.0"]])
    return url


def cli(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, check=check)


def three_generations(index: str, plugin_dir: Path) -> None:
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)  # 000001
    sync(["alpha==1.1.0"], index=index, plugin_dir=plugin_dir)  # 000002
    sync(["beta"], index=index, plugin_dir=plugin_dir)  # 000003


def test_rollback_previous_and_to(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    three_generations(index, plugin_dir)
    assert rollback(plugin_dir) == {"plugin_dir": str(plugin_dir), "from": "000003", "to": "000002"}
    assert installed(plugin_dir) == {"alpha": "1.1.0"}
    assert visible(plugin_dir) == {"alpha": "1.1.0"}
    assert not (plugin_dir / "beta").is_symlink()
    done = cli("rollback", "--plugin-dir", str(plugin_dir), "--to", "1")
    assert "rolled back from generation 000002 to 000001" in done.stdout
    assert visible(plugin_dir) == {"alpha": "1.0.0"}
    with pytest.raises(PluginDirError, match="no generation older than 000001"):
        rollback(plugin_dir)
    with pytest.raises(PluginDirError, match="no generation 000009"):
        rollback(plugin_dir, to=9)
    assert verify(plugin_dir).ok
    # A sync after a rollback brings the dir back to what its requirements resolve to.
    assert sync(["beta"], index=index, plugin_dir=plugin_dir).switched
    assert installed(plugin_dir) == {"alpha": "1.1.0", "beta": "1.0.0"}


def test_gc_keeps_current_previous_and_live_pins(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    layout = PluginDirLayout(plugin_dir)
    three_generations(index, plugin_dir)
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)  # 000004
    # A dead process's pin is ignored: this pid has exited.
    dead = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"],
        capture_output=True,
        text=True,
        check=True,
    )
    layout.pins.mkdir(parents=True, exist_ok=True)
    (layout.pins / f"{dead.stdout.strip()}-dead.json").write_text(
        json.dumps({"pid": int(dead.stdout), "generation": "000002"})
    )
    with pin_generation(layout, layout.generation_path("000001")):
        result = gc(plugin_dir, keep=0)
        assert result.kept == ["000001", "000003", "000004"]
        assert result.removed_generations == ["000002"]
        assert result.pinned == ["000001"]
    assert generation_names(layout) == ["000001", "000003", "000004"]
    # alpha 1.1.0 is still used by 000003 (beta's generation); nothing in the store was freed.
    assert result.removed_store_entries == []
    assert not list(layout.pins.glob("*-dead.json"))
    assert verify(plugin_dir).ok

    result = gc(plugin_dir, keep=0)  # the pin is gone now
    assert result.removed_generations == ["000001"]
    assert generation_names(layout) == ["000003", "000004"]
    done = cli("gc", "--plugin-dir", str(plugin_dir), "--keep", "0", "--json")
    assert json.loads(done.stdout)["kept"] == ["000003", "000004"]
    assert verify(plugin_dir).ok


def test_gc_frees_unused_store_and_cache(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    layout = PluginDirLayout(plugin_dir)
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    sync(["alpha==1.1.0"], index=index, plugin_dir=plugin_dir)
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    sync(["alpha==1.1.0"], index=index, plugin_dir=plugin_dir)
    # Sync keeps no wheels (the store entry is the cache); an older release left this one.
    assert not layout.cache.exists() or not any(len(e.name) == 64 for e in layout.cache.iterdir())
    left = layout.cache / ("ab" * 32)
    left.mkdir(parents=True)
    (left / "alpha-1.0.0-py3-none-any.whl").write_bytes(b"an old cached wheel")
    result = gc(plugin_dir, keep=0)
    assert result.removed_generations == ["000001", "000002"]
    assert len(result.removed_store_entries) == 1  # alpha 1.0.0
    assert result.removed_cache_entries == ["ab" * 32]
    assert not left.exists()
    assert len([e for e in layout.store.iterdir()]) == 2
    assert verify(plugin_dir).ok


def test_locked_reproduces_a_generation(
    index: str, tmp_path: Path, wheels: dict[str, Path]
) -> None:
    first = tmp_path / "first"
    sync(["beta"], index=index, plugin_dir=first)
    lock = first / ".dioptra-plugins" / "current" / "pylock.toml"
    saved = tmp_path / "pylock.toml"
    saved.write_bytes(lock.read_bytes())
    publish_wheels(index, [wheels["alpha-2.0.0"]])

    second = tmp_path / "second"
    result = sync(locked=saved, plugin_dir=second, index=index)
    assert result.installed == {"alpha": "1.1.0", "beta": "1.0.0"}
    one = {p.sha256 for p in read_lock(lock).packages}
    two = {p.sha256 for p in read_lock(second / ".dioptra-plugins/current/pylock.toml").packages}
    assert one == two
    # The index of the lock is used when none is given.
    third = tmp_path / "third"
    done = cli("sync", "--locked", str(saved), "--plugin-dir", str(third), "--json")
    assert json.loads(done.stdout)["installed"] == {"alpha": "1.1.0", "beta": "1.0.0"}
    # Same lock again: one request.
    assert sync(locked=saved, plugin_dir=second, index=index).requests == 1


def test_locked_fails_when_the_index_lost_the_bundle(
    index: str, tmp_path: Path, wheels: dict[str, Path]
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    saved = tmp_path / "pylock.toml"
    saved.write_bytes((plugin_dir / ".dioptra-plugins/current/pylock.toml").read_bytes())
    other = str(tmp_path / "other-index")
    publish_wheels(other, [wheels["alpha-1.1.0"]])
    with pytest.raises(SyncError, match=r"alpha-1\.0\.0-py3-none-any\.whl: no longer in the index"):
        sync(locked=saved, plugin_dir=tmp_path / "fresh", index=other)


def test_list_api_and_cli(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    listing = list_plugins(plugin_dir)
    assert listing["generation"] == "000001"
    assert [(p["name"], p["version"]) for p in listing["packages"]] == [
        ("alpha", "1.1.0"),
        ("beta", "1.0.0"),
    ]
    assert {t["function"] for t in listing["packages"][0]["tasks"]} == {"task0", "task1", "task2"}
    as_json = json.loads(cli("list", "--plugin-dir", str(plugin_dir), "--json").stdout)
    assert as_json["packages"] == listing["packages"]
    text = cli("list", "--plugin-dir", str(plugin_dir)).stdout
    assert "generation 000001" in text
    assert "alpha.mod0.task0(x: int) -> str" in text
    env = {**os.environ, "DIOPTRA_PLUGIN_DIR": str(plugin_dir)}
    from_env = subprocess.run(
        [CLI, "list", "--json"], capture_output=True, text=True, env=env, check=True
    )
    assert json.loads(from_env.stdout)["generation"] == "000001"


def test_verify_finds_tampered_store_files_and_links(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    done = cli("verify", "--plugin-dir", str(plugin_dir))
    assert done.stdout.startswith("ok: generation 000001")

    module = (plugin_dir / "alpha" / "mod0.py").resolve()
    module.chmod(0o644)
    module.write_text(module.read_text() + "\nimport os  # injected\n")
    (plugin_dir / "beta").unlink()
    extra = module.parent / "extra.py"
    extra.write_text("")
    failed = cli("verify", "--plugin-dir", str(plugin_dir), "--json", check=False)
    assert failed.returncode == 1
    report = json.loads(failed.stdout)
    assert report["ok"] is False
    problems = "\n".join(report["problems"])
    assert "alpha/mod0.py: sha256=" in problems
    assert "alpha/extra.py: not listed in RECORD" in problems
    assert "beta: no entry link" in problems


def test_read_commands_on_an_unsynced_dir(tmp_path: Path) -> None:
    done = cli("verify", "--plugin-dir", str(tmp_path), check=False)
    assert done.returncode == 1
    assert "is not a synced plugin dir" in done.stderr
    assert "Traceback" not in done.stderr


def test_sync_refuses_to_overwrite_unmanaged_files(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    (plugin_dir / "alpha").mkdir(parents=True)
    (plugin_dir / "alpha" / "__init__.py").write_text("# mine\n")
    with pytest.raises(PluginDirError, match="does not manage"):
        sync(["alpha"], index=index, plugin_dir=plugin_dir)
    assert (plugin_dir / "alpha" / "__init__.py").read_text() == "# mine\n"
    assert not (plugin_dir / ".dioptra-plugins" / "current").exists()


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("top-level", "../../escape"),
        ("name", "../alpha"),
        ("sha256", "../../../../tmp/x"),
        ("wheel-name", "../alpha-1.0.0-py3-none-any.whl"),
    ],
)
def test_hostile_lock_files_are_refused(index: str, tmp_path: Path, field: str, value: str) -> None:
    source = tmp_path / "source"
    sync(["alpha==1.0.0"], index=index, plugin_dir=source)
    text = (source / ".dioptra-plugins/current/pylock.toml").read_text()
    lock = read_lock(source / ".dioptra-plugins/current/pylock.toml")
    (package,) = lock.packages
    old = {
        "top-level": f'top-level = "{package.top_level}"',
        "name": f'name = "{package.name}"',
        "sha256": f'sha256 = "{package.sha256}"',
        "wheel-name": f'name = "{package.filename}"',
    }[field]
    key = old.split(" = ")[0]
    hostile = tmp_path / "pylock.toml"
    hostile.write_text(text.replace(old, f'{key} = "{value}"', 1))
    plugin_dir = tmp_path / "victim" / "plugins"
    with pytest.raises((SyncError, IndexFormatError)):
        sync(locked=hostile, plugin_dir=plugin_dir, index=index)
    # Refused before anything is written, or after creating only the plugin dir itself.
    victim = tmp_path / "victim"
    assert not victim.exists() or sorted(p.name for p in victim.iterdir()) == ["plugins"]
    assert not (plugin_dir / ".dioptra-plugins" / "current").exists()
    assert not (tmp_path / "escape").exists()
