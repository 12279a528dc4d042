"""Conventions every command keeps, wherever the flags go (issue 25).

``-v`` and ``-q`` before or after the command name, as pip and uv take them; ``--json`` means
one JSON document on stdout even when the arguments themselves are wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dioptra_plugins.cli.main import COMMAND_MODULES, main

CLI = str(Path(sys.executable).parent / "dioptra-plugins")


def _every_command() -> list[list[str]]:
    context = click.Context(main)
    paths: list[list[str]] = []
    for name in sorted(COMMAND_MODULES):
        command = main.get_command(context, name)
        assert command is not None
        paths.append([name])
        if isinstance(command, click.Group):
            paths += [[name, sub] for sub in sorted(command.commands)]
    return paths


@pytest.mark.parametrize("path", _every_command(), ids=" ".join)
def test_every_command_takes_v_and_q_after_its_name(path: list[str]) -> None:
    runner = CliRunner()
    for flag in ("-v", "-vv", "-q", "--verbose"):
        done = runner.invoke(main, [*path, flag, "--help"])
        assert done.exit_code == 0, (flag, done.output)


@pytest.mark.parametrize(
    "arguments",
    [
        ["sync", "mypl", "--json", "--jobs", "0"],
        ["sync", "mypl", "--jobs", "0", "--json"],
        ["gc", "--keep", "-1", "--json"],
        ["index", "list", "--json", "--timeout", "soon"],
        ["sync", "--json", "--no-such-option"],
        ["build", "a", "b", "--name", "x", "--json"],
    ],
    ids=" ".join,
)
def test_a_usage_error_with_json_is_one_json_document(arguments: list[str], tmp_path: Path) -> None:
    done = subprocess.run([CLI, *arguments], capture_output=True, text=True, cwd=tmp_path)
    assert done.returncode == 2, done.stderr
    document = json.loads(done.stdout)
    assert document["kind"] == "UsageError"
    assert document["exit_code"] == 2
    assert document["error"]
    assert "Traceback" not in done.stderr


def test_a_usage_error_without_json_prints_nothing_on_stdout(tmp_path: Path) -> None:
    done = subprocess.run(
        [CLI, "sync", "mypl", "--jobs", "0"], capture_output=True, text=True, cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stdout == ""
    assert "Invalid value for '--jobs'" in done.stderr
