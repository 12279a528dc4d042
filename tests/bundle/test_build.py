"""Building bundles with hatchling: reproducible, one package, manifest from the syntax tree."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.errors import BuildError, ManifestError, UsageError

PLUGIN = '''\
from dioptra_plugins import pyplugs
from dioptra_plugins.pyplugs import register
import dioptra_plugins


@pyplugs.register
def bare(x: int, y: int = 2) -> int:
    """Add two numbers.

    More text that is not the first line.
    """
    return x + y


@pyplugs.register(sort_value=3)
def called(*args: float, scale: float = 1.0, **kwargs: object) -> list[float]:
    return [a * scale for a in args]


@register
async def plain_name(name):
    """Greets."""
    return name


@dioptra_plugins.pyplugs.register()
def dotted() -> None:
    """Dotted spelling."""


def helper():
    """Not registered."""


class Thing:
    @register
    def method(self):  # methods are not task plugins
        pass
'''


def make_package(root: Path, name: str = "labplugins") -> Path:
    package = root / name
    (package / "attacks").mkdir(parents=True)
    (package / "__init__.py").write_text('"""Lab plugins."""\n')
    (package / "attacks" / "__init__.py").write_text("")
    (package / "attacks" / "fast.py").write_text(PLUGIN)
    return package


def make_project(root: Path, name: str = "labplugins", version: str = "2.1.0") -> Path:
    project = root / "project"
    make_package(project / "src", name)
    (project / "pyproject.toml").write_text(
        f"""[build-system]
requires = ["hatchling"]
build-backend = "hatchling.build"

[project]
name = "{name}"
version = "{version}"
requires-python = ">=3.11"
dependencies = ["numpy>=1.26"]

[tool.hatch.build.targets.wheel]
packages = ["src/{name}"]
"""
    )
    return project


def test_bare_package_folder_builds_a_verified_wheel(tmp_path: Path) -> None:
    wheel = build_bundle(
        make_package(tmp_path), tmp_path / "dist", version="1.2", requires=["numpy>=1.26"]
    )
    assert wheel.name == "labplugins-1.2-py3-none-any.whl"
    bundle = verify_wheel(wheel)
    assert bundle.requires_dist == ["numpy>=1.26"]
    assert bundle.top_level == "labplugins"


def test_manifest_records_every_register_spelling(tmp_path: Path) -> None:
    wheel = build_bundle(make_package(tmp_path), tmp_path / "dist", version="1.0")
    with zipfile.ZipFile(wheel) as archive:
        manifest = json.loads(archive.read("labplugins-1.0.dist-info/dioptra_plugins.json"))
    assert manifest["package"] == "labplugins"
    tasks = {t["function"]: t for t in manifest["tasks"]}
    assert sorted(tasks) == ["bare", "called", "dotted", "plain_name"]
    assert tasks["bare"] == {
        "module": "labplugins.attacks.fast",
        "function": "bare",
        "signature": "(x: int, y: int=2) -> int",
        "doc": "Add two numbers.",
        "line": 7,
        "sort_value": 0,
    }
    assert tasks["called"]["signature"] == (
        "(*args: float, scale: float=1.0, **kwargs: object) -> list[float]"
    )
    assert tasks["called"]["sort_value"] == 3
    assert tasks["plain_name"]["doc"] == "Greets."


def test_builds_are_reproducible(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    first = build_bundle(package, tmp_path / "a", version="1.0")
    (package / "attacks" / "fast.py").touch()  # a new mtime must not change the bytes
    second = build_bundle(package, tmp_path / "b", version="1.0")
    assert first.read_bytes() == second.read_bytes()


def test_project_directory_builds_through_pep517(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    first = build_bundle(project, tmp_path / "a")
    second = build_bundle(project, tmp_path / "b")
    assert first.name == "labplugins-2.1.0-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    assert verify_wheel(first).requires_dist == ["numpy>=1.26"]


def test_plugin_code_is_never_imported(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    marker = tmp_path / "IMPORTED"
    (package / "boom.py").write_text(f"open({str(marker)!r}, 'w').close()\nraise SystemExit(3)\n")
    build_bundle(package, tmp_path / "dist", version="1.0")
    assert not marker.exists()


def test_syntax_error_names_file_and_line(tmp_path: Path) -> None:
    package = make_package(tmp_path)
    (package / "attacks" / "broken.py").write_text("x = 1\n\ndef oops(:\n    pass\n")
    with pytest.raises(ManifestError) as caught:
        build_bundle(package, tmp_path / "dist", version="1.0")
    assert caught.value.path == "labplugins/attacks/broken.py"
    assert caught.value.line == 3
    assert "labplugins/attacks/broken.py:3" in str(caught.value)
    assert not list((tmp_path / "dist").glob("*.whl"))


def test_bare_folder_needs_a_version(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="`version` is required"):
        build_bundle(make_package(tmp_path), tmp_path / "dist")


@pytest.mark.parametrize(
    ("version", "requires", "message"),
    [
        ("not a version", (), "not a valid PEP 440 version"),
        ("1.0", ("numpy>>1",), "`requires`"),
    ],
)
def test_bad_version_or_requirement(
    tmp_path: Path, version: str, requires: tuple[str, ...], message: str
) -> None:
    with pytest.raises(UsageError, match=message):
        build_bundle(make_package(tmp_path), tmp_path / "dist", version=version, requires=requires)


def test_source_that_is_neither_project_nor_package(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="neither a project"):
        build_bundle(tmp_path, tmp_path / "dist", version="1.0")


def test_project_version_flags_are_refused(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match=r"pyproject\.toml"):
        build_bundle(make_project(tmp_path), tmp_path / "dist", version="3.0")


def test_non_hatchling_backend_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        text.replace("hatchling.build", "setuptools.build_meta")
    )
    with pytest.raises(BuildError, match="hatchling"):
        build_bundle(project, tmp_path / "dist")


def test_wheel_with_two_packages_is_refused(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    make_package(project / "src", "second")
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(
        text.replace('packages = ["src/labplugins"]', 'packages = ["src/labplugins", "src/second"]')
    )
    with pytest.raises(BuildError, match="exactly one top-level package"):
        build_bundle(project, tmp_path / "dist")
    assert not list((tmp_path / "dist").glob("*.whl"))


def test_broken_project_reports_hatchling_error(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    (project / "pyproject.toml").write_text(
        (project / "pyproject.toml").read_text().replace('version = "2.1.0"', "")
    )
    with pytest.raises(BuildError, match="hatchling failed"):
        build_bundle(project, tmp_path / "dist")


def test_python2_tagged_project_gets_a_clear_error(tmp_path: Path) -> None:
    project = make_project(tmp_path)
    text = (project / "pyproject.toml").read_text()
    (project / "pyproject.toml").write_text(text.replace('requires-python = ">=3.11"\n', ""))
    with pytest.raises(BuildError, match="set requires-python"):
        build_bundle(project, tmp_path / "dist")
