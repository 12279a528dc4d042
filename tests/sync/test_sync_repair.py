"""sync --dry-run (change nothing, say what would change) and sync --reinstall (repair)."""

from __future__ import annotations

import json
import os
import subprocess
from pathlib import Path

import pytest
from synchelpers import CLI, installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.errors import UsageError
from dioptra_plugins.plugindir.verify_dir import verify
from snapshots import tree_snapshot as snapshot


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"], wheels["beta-1.0.0"]])
    return url


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, check=False)


def test_dry_run_into_a_missing_dir_creates_nothing(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    result = sync(["beta"], index=index, plugin_dir=plugin_dir, dry_run=True)
    assert result.dry_run
    assert not result.switched
    assert result.installed == {"alpha": "1.1.0", "beta": "1.0.0"}
    assert not plugin_dir.exists()
    done = cli("sync", "beta", "--index", index, "--plugin-dir", str(plugin_dir), "--dry-run")
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "dry run: would install alpha 1.1.0; install beta 1.0.0"
    assert not plugin_dir.exists()


def test_dry_run_of_a_change_writes_nothing(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    before = snapshot(plugin_dir)
    result = sync(["alpha==1.1.0", "beta"], index=index, plugin_dir=plugin_dir, dry_run=True)
    assert result.upgraded == {"alpha": ("1.0.0", "1.1.0")}
    assert result.installed == {"beta": "1.0.0"}
    done = cli(
        "sync", "alpha", "--index", index, "--plugin-dir", str(plugin_dir), "--dry-run", "--json"
    )
    document = json.loads(done.stdout)
    assert document["dry_run"] is True
    assert document["upgraded"] == {"alpha": ["1.0.0", "1.1.0"]}
    assert snapshot(plugin_dir) == before
    assert installed(plugin_dir) == {"alpha": "1.0.0"}


def test_reinstall_repairs_a_changed_store_file(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    store = plugin_dir / ".dioptra-plugins" / "store"
    (victim,) = [p for p in store.glob("*/alpha/mod0.py")]
    os.chmod(victim, 0o644)
    victim.write_text("raise SystemExit('tampered')\n")
    assert not verify(plugin_dir).ok
    # A plain sync sees nothing to do: the requirements and the index are unchanged.
    assert sync(["beta"], index=index, plugin_dir=plugin_dir).not_modified
    assert not verify(plugin_dir).ok
    generation = (plugin_dir / ".dioptra-plugins" / "current").readlink()
    done = cli("sync", "beta", "--index", index, "--plugin-dir", str(plugin_dir), "--reinstall")
    assert done.returncode == 0, done.stderr
    assert "reinstalled 2 packages" in done.stdout
    report = verify(plugin_dir)
    assert report.ok, report.problems
    assert "tampered" not in victim.read_text()
    # Repaired in place: the same generation, no leftovers beside the store entries.
    assert (plugin_dir / ".dioptra-plugins" / "current").readlink() == generation
    assert sorted(p.name.startswith(".") for p in store.iterdir()) == [False, False]


def test_dry_run_and_reinstall_are_exclusive(index: str, tmp_path: Path) -> None:
    with pytest.raises(UsageError):
        sync(["beta"], index=index, plugin_dir=tmp_path / "p", dry_run=True, reinstall=True)
    done = cli(
        "sync", "beta", "--index", index, "--plugin-dir", str(tmp_path), "--every", "1", "--dry-run"
    )
    assert done.returncode == 2


def test_dry_run_of_an_up_to_date_dir(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    result = sync(["beta"], index=index, plugin_dir=plugin_dir, dry_run=True)
    assert result.dry_run
    assert result.requests == 1
    done = cli("sync", "beta", "--index", index, "--plugin-dir", str(plugin_dir), "--dry-run")
    assert done.stdout.strip() == "dry run: nothing would change (generation 000001)"


def test_a_sync_waiting_for_the_lock_says_for_whom(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    from dioptra_plugins.errors import LockTimeoutError
    from dioptra_plugins.plugindir.layout import PluginDirLayout
    from dioptra_plugins.plugindir.writer_lock import writer_lock

    layout = PluginDirLayout(tmp_path / "plugins")
    with writer_lock(layout.lock_file), pytest.raises(LockTimeoutError):
        sync(["alpha"], index=str(tmp_path / "index"), plugin_dir=layout.root, lock_timeout=0.2)
    waiting = [r for r in caplog.records if "waiting for" in r.getMessage()]
    assert len(waiting) == 1
    assert (
        f"waiting for pid {os.getpid()} holding plugin dir {layout.root}" in waiting[0].getMessage()
    )


def test_quiet_prints_no_status_lines(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    done = cli("sync", "beta", "--index", index, "--plugin-dir", str(plugin_dir), "-q")
    assert done.returncode == 0, done.stderr
    assert done.stdout == ""
    assert installed(plugin_dir) == {"alpha": "1.1.0", "beta": "1.0.0"}
    as_json = cli("sync", "beta", "--index", index, "--plugin-dir", str(plugin_dir), "-q", "--json")
    assert json.loads(as_json.stdout)["not_modified"] is True
    for args in (("gc", "--plugin-dir", str(plugin_dir)), ("index", "init", index)):
        quiet = cli(*args, "--quiet")
        assert quiet.returncode == 0, quiet.stderr
        assert quiet.stdout == ""
    # A listing is what was asked for: quiet does not hide it.
    assert "beta" in cli("list", "--plugin-dir", str(plugin_dir), "-q").stdout


def test_gc_dry_run_deletes_nothing(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    for requirement in ("alpha==1.0.0", "alpha==1.1.0", "beta", "alpha==1.1.0"):
        sync([requirement], index=index, plugin_dir=plugin_dir)
    before = snapshot(plugin_dir)
    from dioptra_plugins.plugindir.gc import gc

    planned = gc(plugin_dir, keep=0, dry_run=True)
    assert planned.dry_run
    assert planned.removed_generations == ["000001", "000002"]
    assert len(planned.removed_store_entries) == 1
    assert snapshot(plugin_dir) == before
    done = cli("gc", "--plugin-dir", str(plugin_dir), "--keep", "0", "--dry-run")
    assert done.stdout.startswith("dry run: would remove 2 generations, 1 store entries")
    assert snapshot(plugin_dir) == before
    assert gc(plugin_dir, keep=0).removed_generations == planned.removed_generations


def test_tasks_without_any_plugin_dir_is_an_error(tmp_path: Path) -> None:
    env_free = {k: v for k, v in os.environ.items() if k != "DIOPTRA_PLUGIN_DIR"}
    done = subprocess.run([CLI, "tasks"], capture_output=True, text=True, env=env_free, check=False)
    assert done.returncode == 2
    assert "no plugin dir to list" in done.stderr
    missing = subprocess.run(
        [CLI, "tasks", "--plugin-dir", str(tmp_path / "nope")],
        capture_output=True,
        text=True,
        env=env_free,
        check=False,
    )
    assert missing.returncode == 2
    assert "no plugin dir to list" in missing.stderr


def test_progress_on_a_terminal_counts_packages_bytes_and_rate(index: str, tmp_path: Path) -> None:
    from terminal import run_on_a_terminal

    plugin_dir = tmp_path / "plugins"
    code, shown = run_on_a_terminal(
        [CLI, "sync", "beta", "--index", index, "--plugin-dir", str(plugin_dir)]
    )
    assert code == 0
    assert b"2/2 packages, " in shown
    assert b" MB/s" in shown
    assert b"0/0 packages" not in shown  # no flash of nothing before the first figure
    plain = cli("sync", "alpha", "--index", index, "--plugin-dir", str(tmp_path / "other"))
    assert "packages," not in plain.stderr
