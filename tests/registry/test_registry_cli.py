"""``dioptra-plugins tasks``, ``call`` and ``watch``."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
from pathlib import Path
from typing import IO

import pytest
from click.testing import CliRunner
from registry_helpers import PluginArea

from dioptra_plugins.cli.main import main

PLUGIN = '''
from dioptra_plugins import pyplugs

@pyplugs.register
def scale(values: list, factor: float = 2.0) -> list:
    """Multiply every value.

    Longer text.
    """
    return [v * factor for v in values]

@pyplugs.register
def greet(name):
    return object() if name == "object" else f"hello {name}"

@pyplugs.register
def fail():
    raise ValueError("plugin says no")
'''


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


def test_tasks_lists_signatures(area: PluginArea, runner: CliRunner) -> None:
    package = area.package({"ops.py": PLUGIN, "sub/__init__.py": "", "sub/deep.py": PLUGIN})
    result = runner.invoke(main, ["tasks", package, "--plugin-dir", str(area.root)])
    assert result.exit_code == 0, result.output
    assert f"{package}.ops.scale(values: list, factor: float = 2.0) -> list" in result.output
    assert "Multiply every value." in result.output
    assert f"{package}.sub.deep.greet(name)" in result.output


def test_tasks_json_and_import_errors(
    area: PluginArea, runner: CliRunner, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = area.package({"ops.py": PLUGIN, "broken.py": "def f(:\n"})
    monkeypatch.setenv("DIOPTRA_PLUGIN_DIR", str(area.root))
    result = runner.invoke(main, ["tasks", "--json"])
    assert result.exit_code == 1
    document = json.loads(result.stdout)
    mine = [t for t in document["tasks"] if t["package"] == package]
    assert [t["function"] for t in mine] == ["scale", "greet", "fail"]
    assert mine[0] == {
        "module": f"{package}.ops",
        "package": package,
        "plugin": "ops",
        "function": "scale",
        "signature": "(values: list, factor: float = 2.0) -> list",
        "description": "Multiply every value.",
        "sort_value": 0,
    }
    [error] = [e for e in document["errors"] if e["module"].startswith(package)]
    assert error["module"] == f"{package}.broken"
    assert error["line"] == 1


def test_call_parses_json_values_and_prints_json(area: PluginArea, runner: CliRunner) -> None:
    package = area.package({"ops.py": PLUGIN})
    args = ["call", package, "ops", "scale", "-a", "values=[1, 2.5]", "-a", "factor=3"]
    result = runner.invoke(main, [*args, "--plugin-dir", str(area.root)])
    assert result.exit_code == 0, result.output
    assert json.loads(result.stdout) == [3, 7.5]
    result = runner.invoke(
        main, ["call", package, "ops", "greet", "-a", "name=world", "--plugin-dir", str(area.root)]
    )
    assert result.stdout == '"hello world"\n'
    result = runner.invoke(
        main, ["call", package, "ops", "greet", "-a", "name=object", "--plugin-dir", str(area.root)]
    )
    assert result.stdout.startswith("<object object")


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["ops", "scale", "-a", "novalue"], 2, "NAME=VALUE"),
        (["ops", "nope"], 1, "nope"),
        (["missing", "scale"], 1, "missing"),
        (["ops", "fail"], 1, "ValueError: plugin says no"),
    ],
)
def test_call_errors(
    area: PluginArea, runner: CliRunner, args: list[str], code: int, message: str
) -> None:
    package = area.package({"ops.py": PLUGIN})
    result = runner.invoke(main, ["call", package, *args, "--plugin-dir", str(area.root)])
    assert result.exit_code == code
    assert message in result.stderr
    assert "Traceback" not in result.output


def _lines(stream: IO[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _next(lines: queue.Queue[str], contains: str = "", timeout: float = 20) -> str:
    while True:
        line = lines.get(timeout=timeout)
        if contains in line:
            return line


def test_watch_prints_each_event_as_a_json_line(tmp_path: Path) -> None:
    root = tmp_path / "plugins"
    (root / "pkg_cliwatch").mkdir(parents=True)
    (root / "pkg_cliwatch" / "__init__.py").write_text("")
    module = root / "pkg_cliwatch" / "ops.py"
    module.write_text(PLUGIN)
    command = Path(sys.executable).with_name("dioptra-plugins")
    env = {k: v for k, v in os.environ.items() if k != "DIOPTRA_PLUGIN_DIR"}
    process = subprocess.Popen(
        [str(command), "watch", str(root), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    readers = [
        threading.Thread(target=_lines, args=(stream, target), daemon=True)
        for stream, target in ((process.stdout, out), (process.stderr, err))
    ]
    for reader in readers:
        reader.start()
    try:
        assert "3 tasks" in _next(err, "watching")
        module.write_text(PLUGIN.replace("hello", "hi"))
        event = json.loads(_next(out))
        assert event == {
            "module": "pkg_cliwatch.ops",
            "added": [],
            "changed": ["greet"],
            "removed": [],
            "unloaded": False,
            "recovered": False,
            "error": None,
        }
        module.write_text("def broken(:\n")
        event = json.loads(_next(out))
        assert event["error"]["line"] == 1
        assert event["error"]["file"] == str(module)
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
        assert out.empty()
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:  # they end at EOF, once the process is gone
            reader.join(timeout=10)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()
