"""``dioptra-plugins build`` and ``inspect`` from the shell: output, JSON and exit codes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from test_build import make_package

from wheelfactory import WheelSpec


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dioptra_plugins", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def test_build_and_inspect_json(tmp_path: Path) -> None:
    make_package(tmp_path)
    built = cli("build", "labplugins", "--version", "1.0", "-o", "dist", "--json", cwd=tmp_path)
    assert built.returncode == 0, built.stderr
    document = json.loads(built.stdout)
    (entry,) = document["built"]
    assert entry["name"] == "labplugins"
    assert entry["tasks"] == 4
    shown = cli("inspect", entry["wheel"], "--json", cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    described = json.loads(shown.stdout)
    assert described["sha256"] == entry["sha256"]
    assert {t["function"] for t in described["manifest"]["tasks"]} >= {"bare", "called"}


def test_inspect_human_output(tmp_path: Path) -> None:
    wheel = WheelSpec().write(tmp_path)
    shown = cli("inspect", str(wheel), cwd=tmp_path)
    assert shown.returncode == 0, shown.stderr
    assert "demo-pkg 1.0" in shown.stdout
    assert "demo_pkg.tasks.double" in shown.stdout


def test_hostile_wheel_exits_1_without_traceback(tmp_path: Path) -> None:
    spec = WheelSpec()
    spec.files["../evil.py"] = b"x"
    shown = cli("inspect", str(spec.write(tmp_path)), cwd=tmp_path)
    assert shown.returncode == 1
    assert "'..' in path" in shown.stderr
    assert "Traceback" not in shown.stderr


def test_usage_error_exits_2(tmp_path: Path) -> None:
    make_package(tmp_path)
    result = cli("build", "labplugins", cwd=tmp_path)
    assert result.returncode == 2
    assert "--version is required" in result.stderr
    assert "Traceback" not in result.stderr


def test_version_and_help(tmp_path: Path) -> None:
    assert cli("--version", cwd=tmp_path).stdout.strip().endswith("0.1.0")
    for command in ("build", "inspect"):
        result = cli(command, "--help", cwd=tmp_path)
        assert result.returncode == 0
        assert "Usage:" in result.stdout


def test_a_command_loads_only_its_own_module(tmp_path: Path) -> None:
    probe = (
        "import sys\n"
        "from dioptra_plugins.cli.main import main\n"
        "try:\n"
        "    main(['inspect', '--help'])\n"
        "except SystemExit:\n"
        "    pass\n"
        "print(sorted(m for m in sys.modules if m.startswith('dioptra_plugins.cli.')))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True, cwd=tmp_path
    )
    loaded = result.stdout.strip().splitlines()[-1]
    assert "bundle_commands" in loaded
    others = ("sync_commands", "index_commands", "publish_commands", "run_commands")
    for other in (*others, "registry_commands"):
        assert other not in loaded
