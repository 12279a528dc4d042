"""The version is written twice (pyproject.toml for the build, version.py for the runtime)."""

import tomllib
from pathlib import Path

import dioptra_plugins


def test_the_package_version_is_the_projects() -> None:
    pyproject = tomllib.loads((Path(__file__).parents[1] / "pyproject.toml").read_text())
    assert dioptra_plugins.__version__ == pyproject["project"]["version"]
