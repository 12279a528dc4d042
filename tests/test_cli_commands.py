"""The command table: every lazily listed command exists in the module it is listed under."""

from __future__ import annotations

import importlib
from pathlib import Path

import pytest

from dioptra_plugins.cli.main import COMMAND_MODULES


@pytest.mark.parametrize(("name", "module_name"), sorted(COMMAND_MODULES.items()))
def test_every_lazily_listed_command_exists(name: str, module_name: str) -> None:
    module = importlib.import_module(f"dioptra_plugins.cli.{module_name}")
    assert name in {command.name for command in module.COMMANDS}


def test_build_of_many_packages_reports_in_the_order_given(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    cli = str(Path(sys.executable).parent / "dioptra-plugins")
    sources = []
    for number in range(6):
        package = tmp_path / f"pkg{number}"
        package.mkdir()
        (package / "__init__.py").write_text(f"N = {number}\n")
        sources.append(str(package))
    done = subprocess.run(
        [cli, "build", *sources, "--version", "1.0.0", "-o", str(tmp_path / "out"), "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    built = json.loads(done.stdout)["built"]
    assert [b["name"] for b in built] == [f"pkg{n}" for n in range(6)]


def test_json_failures_unknown_names_and_call_json(tmp_path: Path) -> None:
    import json
    import subprocess
    import sys

    cli = str(Path(sys.executable).parent / "dioptra-plugins")
    package = tmp_path / "plugins" / "demo_tasks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "images.py").write_text(
        "from dioptra_plugins.pyplugs import register\n\n\n"
        "@register\ndef resize(n: int) -> int:\n    return n * 2\n"
    )
    plugin_dir = str(tmp_path / "plugins")

    def run(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run([cli, *args], capture_output=True, text=True, check=False)

    done = run(
        "call", "demo_tasks", "images", "resize", "-a", "n=21", "--plugin-dir", plugin_dir, "--json"
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"task": "demo_tasks.images.resize", "result": 42}
    typo = run("call", "demo_tasks", "images", "resise", "--plugin-dir", plugin_dir, "--json")
    assert typo.returncode == 1
    assert "did you mean 'resize'?" in typo.stderr
    error = json.loads(typo.stdout)
    assert error["kind"] == "UnknownPluginFunctionError"
    assert error["exit_code"] == 1
    assert "did you mean 'resize'?" in error["error"]
    module_typo = run("call", "demo_tasks", "imagse", "resize", "--plugin-dir", plugin_dir)
    assert "did you mean 'images'?" in module_typo.stderr
    assert module_typo.stdout == ""  # no --json: the error is on stderr only
