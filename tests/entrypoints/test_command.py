"""Command rendering: placeholders, and hostile values that must never execute anything.

Each hostile value is rendered into a real ``bash -c`` command that prints its argv as JSON;
the value must arrive as exactly one argument, byte for byte, and no marker file may appear.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dioptra_plugins.entrypoints.command import render_command
from dioptra_plugins.errors import MLprojectError

HOSTILE = [
    "x; touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    "a'b; touch PWNED; echo 'c",
    'a"b; touch PWNED; echo "c',
    "line1\ntouch PWNED",
    "x && touch PWNED",
    "x | touch PWNED",
    "> PWNED",
    "${IFS}touch${IFS}PWNED",
    "\\'; touch PWNED #",
    "two  spaces\tand tab",
    "",
    "-",
    "--flag=value",
    "ünïcødé ☃",
    "*",
]

ARGV_PRINTER = "import json, sys; print(json.dumps(sys.argv[1:]))"


def run_bash(command: str, cwd: Path) -> list[str]:
    done = subprocess.run(
        ["bash", "-c", command], cwd=cwd, capture_output=True, text=True, check=True
    )
    result: list[str] = json.loads(done.stdout)
    return result


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_values_arrive_intact_and_run_nothing(tmp_path: Path, value: str) -> None:
    (tmp_path / "a").write_text("glob bait")
    template = f"{sys.executable} -c '{ARGV_PRINTER}' --value {{value}} --after {{other}}"
    command = render_command(template, {"value": value, "other": "ok"})
    assert run_bash(command, tmp_path) == ["--value", value, "--after", "ok"]
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_undeclared_values_arrive_intact(tmp_path: Path, value: str) -> None:
    template = f"{sys.executable} -c '{ARGV_PRINTER}'"
    command = render_command(template, {}, {"extra": value, "second": "2"})
    assert run_bash(command, tmp_path) == ["--extra", value, "--second", "2"]
    assert not (tmp_path / "PWNED").exists()


def test_placeholders_and_literal_braces() -> None:
    assert render_command("echo {a} {{b}} {a}", {"a": "1"}) == "echo 1 {b} 1"
    assert render_command("echo {a}", {"a": "two words"}) == "echo 'two words'"


@pytest.mark.parametrize(
    ("template", "message"),
    [
        ("echo {missing}", r"placeholder \{missing\} is not a declared parameter"),
        ("echo {}", "is not a declared parameter"),
        ("echo {0}", "is not a declared parameter"),
        ("echo {a.__class__}", "is not a declared parameter"),
        ("echo {a!r}", "format spec or conversion"),
        ("echo {a:>10}", "format spec or conversion"),
        ("echo {a", "bad placeholder"),
        ("echo a}", "bad placeholder"),
    ],
)
def test_bad_templates_are_refused(template: str, message: str) -> None:
    with pytest.raises(MLprojectError, match=message):
        render_command(template, {"a": "1"})
