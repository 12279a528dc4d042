"""What a person sees at a real terminal: listings fit its width (issue 25)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

from terminal import run_in_terminal

REPO = Path(__file__).resolve().parents[1]
BUILTINS = REPO / "plugin-packages" / "dioptra_builtins" / "src"
CLI = [sys.executable, "-m", "dioptra_plugins"]


def _task_names() -> list[str]:
    listed = subprocess.run(
        [*CLI, "tasks", "--json", "--plugin-dir", str(BUILTINS)],
        capture_output=True,
        text=True,
        check=True,
    )
    return [f"{t['module']}.{t['function']}" for t in json.loads(listed.stdout)["tasks"]]


def test_tasks_fit_an_80_column_terminal() -> None:
    code, screen = run_in_terminal([*CLI, "tasks", "--plugin-dir", str(BUILTINS)], columns=80)
    assert code == 0, screen
    lines = screen.splitlines()
    assert max(len(line) for line in lines) <= 80, max(lines, key=len)
    names = _task_names()
    assert len(names) > 10
    for name in names:  # every task is still there, its name whole on a line of its own
        assert name in lines


def test_tasks_keep_the_table_on_a_wide_terminal() -> None:
    code, screen = run_in_terminal([*CLI, "tasks", "--plugin-dir", str(BUILTINS)], columns=400)
    assert code == 0, screen
    lines = screen.splitlines()
    assert lines[0].split() == ["TASK", "DESCRIPTION"]
    assert len(lines) == len(_task_names()) + 1


def test_piped_tasks_stay_one_line_each() -> None:
    environment = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    listed = subprocess.run(
        [*CLI, "tasks", "--plugin-dir", str(BUILTINS)],
        capture_output=True,
        text=True,
        check=True,
        env=environment,
    )
    lines = listed.stdout.splitlines()
    assert len(lines) == len(_task_names()) + 1  # grep and awk see one task a line
