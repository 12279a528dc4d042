"""What build says: a warning for a package without tasks, refusals without temporary paths."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

CLI = str(Path(sys.executable).parent / "dioptra-plugins")


def _package(parent: Path, name: str, source: str) -> Path:
    package = parent / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "helpers.py").write_text(source)
    return package


def test_a_package_without_tasks_builds_with_a_warning(tmp_path: Path) -> None:
    package = _package(tmp_path / "src", "only_helpers", "def helper():\n    return 1\n")
    done = subprocess.run(
        [CLI, "build", str(package), "--version", "1.0", "-o", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert "tasks=0" in done.stdout
    assert "only_helpers-1.0-py3-none-any.whl has no tasks" in done.stderr
    assert (tmp_path / "dist" / "only_helpers-1.0-py3-none-any.whl").is_file()


def test_a_refused_build_names_the_wheel_not_temporary_paths(tmp_path: Path) -> None:
    package = _package(tmp_path / "src", "colorsys", "def helper():\n    return 1\n")
    done = subprocess.run(
        [CLI, "build", str(package), "--version", "1.0", "-o", str(tmp_path / "dist")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "colorsys-1.0-py3-none-any.whl is not a valid bundle" in done.stderr
    assert "standard library" in done.stderr
    assert "dioptra-build-" not in done.stderr
    assert "dioptra-wheel-" not in done.stderr
    assert not (tmp_path / "dist").exists()


def test_a_problem_two_checks_found_is_listed_once() -> None:
    from dioptra_plugins.errors import BundleError

    error = BundleError("x.whl", ["a bad entry", "another", "a bad entry"])
    assert error.problems == ["a bad entry", "another"]
    assert str(error).count("a bad entry") == 1
