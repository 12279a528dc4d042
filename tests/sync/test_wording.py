"""The words for a move: up, down, back and forward, as uv and git say them (issue 25)."""

from __future__ import annotations

import subprocess
from pathlib import Path

from synchelpers import CLI, publish_wheels


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    done = subprocess.run([CLI, *args], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    return done


def test_a_move_to_a_lower_version_is_a_downgrade(wheels: dict[str, Path], tmp_path: Path) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"]])
    place = ["--index", index, "--plugin-dir", str(tmp_path / "plugins")]
    cli("sync", "alpha==1.1.0", *place)
    planned = cli("sync", "alpha==1.0.0", "--dry-run", *place)
    assert "would downgrade alpha 1.1.0 -> 1.0.0" in planned.stdout
    done = cli("sync", "alpha==1.0.0", *place)
    assert "downgraded alpha 1.1.0 -> 1.0.0" in done.stdout
    assert "upgraded" not in done.stdout
    again = cli("sync", "alpha==1.1.0", *place)
    assert "upgraded alpha 1.0.0 -> 1.1.0" in again.stdout


def test_rollback_to_a_later_generation_is_a_switch_forward(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"]])
    place = ["--plugin-dir", str(tmp_path / "plugins")]
    cli("sync", "alpha==1.0.0", "--index", index, *place)
    cli("sync", "alpha==1.1.0", "--index", index, *place)
    back = cli("rollback", *place)
    assert "rolled back from generation 000002 to 000001" in back.stdout
    forward = cli("rollback", "--to", "2", *place)
    assert "switched forward from generation 000001 to 000002" in forward.stdout
    assert "rolled back" not in forward.stdout


def test_a_bare_sync_repeats_the_last_sync_after_a_rollback(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"]])
    place = ["--plugin-dir", str(tmp_path / "plugins")]
    cli("sync", "alpha==1.0.0", "--index", index, *place)
    cli("sync", "alpha>=1.1", "--index", index, *place)
    cli("rollback", *place)  # back on alpha 1.0.0
    again = cli("sync", *place)  # no requirements, no index: the last sync's
    assert "upgraded alpha 1.0.0 -> 1.1.0" in again.stdout
    assert "generation 000003" in again.stdout
    idle = cli("sync", *place)
    assert "up to date: generation 000003" in idle.stdout


def test_a_bare_sync_of_a_new_dir_says_what_to_give(tmp_path: Path) -> None:
    done = subprocess.run(
        [CLI, "sync", "--plugin-dir", str(tmp_path / "plugins")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert "nothing to sync: give requirements or a lock file" in done.stderr
    empty = tmp_path / "empty.txt"
    empty.write_text("# nothing yet\n")
    done = subprocess.run(
        [CLI, "sync", "-r", str(empty), "--plugin-dir", str(tmp_path / "plugins")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 2
    assert f"no requirements in {empty}" in done.stderr
