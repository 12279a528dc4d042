"""The README's main command (scripts/demo.py) runs the whole path on a local folder index."""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path

DEMO = Path(__file__).resolve().parents[2] / "scripts" / "demo.py"


def test_demo_runs_the_attack_on_synced_plugins_and_shows_the_lock(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIOPTRA_", "MLFLOW_"))}
    done = subprocess.run(
        [sys.executable, str(DEMO), "--work-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    for step in ("1. build", "2. publish", "3. sync", "4. run", "5. results"):
        assert f"== {step}" in done.stdout
    assert "accuracy adversarial" in done.stdout
    assert "plugin generation    000001" in done.stdout
    lock_text = done.stdout.split("the lock this run used", 1)[1].split(":\n", 1)[1]
    lock = tomllib.loads(lock_text)
    assert {p["name"] for p in lock["packages"]} == {"dioptra-builtins", "dioptra-examples"}
    assert (tmp_path / "run" / "pylock.toml").read_text().strip() == lock_text.strip()
    # A second demo starts from scratch (its folders are replaced), not from the last state.
    again = subprocess.run(
        [sys.executable, str(DEMO), "--work-dir", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=240,
        env=env,
    )
    assert again.returncode == 0, again.stdout + again.stderr
    assert "plugin generation    000001" in again.stdout
