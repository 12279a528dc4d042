"""A build that fails or is interrupted half-way leaves no temporary file and no partial wheel.

The system temp dir is redirected (``TMPDIR`` for hatchling's subprocess, ``tempfile.tempdir``
for this process) to a directory of the test, which must be empty after every failure.  Each
fault is narrow: one boundary fails, everything else is real.
"""

from __future__ import annotations

import errno
import random
import tempfile
from pathlib import Path

import pytest
from click.testing import CliRunner

from dioptra_plugins.bundle import build as build_module
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.cli.main import main
from dioptra_plugins.errors import BuildError

# A hatchling build hook that lets hatchling write the first files of the wheel into its
# mkstemp file, then fails like a full disk (the file hatchling once left in /tmp).
FAILING_HOOK = """\
import errno
import random

from hatchling.builders import wheel
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class FullDisk(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        real_add_file = wheel.WheelArchive.add_file
        added = []

        def add_file(archive, included_file):
            record = real_add_file(archive, included_file)
            added.append(record)
            if len(added) == 2:
                raise OSError(errno.ENOSPC, "No space left on device")
            return record

        wheel.WheelArchive.add_file = add_file
"""


@pytest.fixture
def system_tmp(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    directory = tmp_path / "system-tmp"
    directory.mkdir()
    for variable in ("TMPDIR", "TEMP", "TMP"):
        monkeypatch.setenv(variable, str(directory))
    monkeypatch.setattr(tempfile, "tempdir", str(directory))
    return directory


def make_package(root: Path, name: str = "fullplugins") -> Path:
    package = root / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""Plugins."""\n')
    (package / "tasks.py").write_text(
        "from dioptra_plugins.pyplugs import register\n\n\n"
        "@register\ndef task(x: int) -> int:\n    return x\n"
    )
    # A large, incompressible file: the partial wheel is worth cleaning up.
    (package / "weights.bin").write_bytes(random.Random(0).randbytes(2 * 1024 * 1024))
    return package


def make_project(root: Path, *, failing_hook: bool) -> Path:
    project = root / "project"
    make_package(project / "src")
    hooks = "[tool.hatch.build.targets.wheel.hooks.custom]\n" if failing_hook else ""
    (project / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n\n'
        '[project]\nname = "fullplugins"\nversion = "1.0"\nrequires-python = ">=3.11"\n\n'
        '[tool.hatch.build.targets.wheel]\npackages = ["src/fullplugins"]\n\n' + hooks
    )
    if failing_hook:
        (project / "hatch_build.py").write_text(FAILING_HOOK)
    return project


def assert_nothing_left(system_tmp: Path, out_dir: Path, *, out_dir_existed: bool) -> None:
    assert list(system_tmp.iterdir()) == []
    if out_dir_existed:
        assert list(out_dir.iterdir()) == []
    else:
        assert not out_dir.exists()


@pytest.mark.parametrize("out_dir_existed", [False, True], ids=["new-out-dir", "existing"])
def test_hatchling_failing_mid_write_leaves_nothing(
    tmp_path: Path, system_tmp: Path, out_dir_existed: bool
) -> None:
    project = make_project(tmp_path, failing_hook=True)
    out_dir = tmp_path / "dist" / "nested"
    if out_dir_existed:
        out_dir.mkdir(parents=True)
    with pytest.raises(BuildError, match="No space left on device"):
        build_bundle(project, out_dir)
    assert_nothing_left(system_tmp, out_dir, out_dir_existed=out_dir_existed)
    if not out_dir_existed:
        assert not (tmp_path / "dist").exists()  # the whole mkdir -p is undone


@pytest.mark.parametrize("kind", ["project", "bare-package"])
def test_a_full_disk_after_hatchling_is_one_build_error(
    tmp_path: Path, system_tmp: Path, monkeypatch: pytest.MonkeyPatch, kind: str
) -> None:
    source = (
        make_project(tmp_path, failing_hook=False)
        if kind == "project"
        else make_package(tmp_path / "src")
    )
    version = None if kind == "project" else "1.0"

    def full_disk(*_args: object) -> bytes:
        raise OSError(errno.ENOSPC, "No space left on device")

    # Fails while the final wheel is being written, after its entries were copied.
    monkeypatch.setattr(build_module, "_record_with", full_disk)
    out_dir = tmp_path / "dist"
    with pytest.raises(BuildError) as caught:
        build_bundle(source, out_dir, version=version)
    assert str(caught.value) == f"cannot build {source.resolve()}: no space left on device"
    assert_nothing_left(system_tmp, out_dir, out_dir_existed=False)


def test_an_interrupted_build_leaves_nothing(
    tmp_path: Path, system_tmp: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def interrupt(_wheel: Path) -> None:
        raise KeyboardInterrupt

    monkeypatch.setattr(build_module, "verify_wheel", interrupt)
    out_dir = tmp_path / "dist"
    out_dir.mkdir()
    with pytest.raises(KeyboardInterrupt):
        build_bundle(make_package(tmp_path / "src"), out_dir, version="1.0")
    assert_nothing_left(system_tmp, out_dir, out_dir_existed=True)


def test_the_cli_says_it_once(tmp_path: Path, system_tmp: Path) -> None:
    project = make_project(tmp_path, failing_hook=True)
    out_dir = tmp_path / "dist"
    done = CliRunner().invoke(main, ["build", str(project), "-o", str(out_dir)])
    assert done.exit_code == 1, done.output
    assert done.stdout == ""
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith(f"error: hatchling failed to build {project.resolve()}: ")
    assert lines[0].endswith("No space left on device")
    assert_nothing_left(system_tmp, out_dir, out_dir_existed=False)


def test_a_successful_build_leaves_no_temporary_files(tmp_path: Path, system_tmp: Path) -> None:
    out_dir = tmp_path / "dist"
    wheel = build_bundle(make_package(tmp_path / "src"), out_dir, version="1.0")
    assert [p.name for p in out_dir.iterdir()] == [wheel.name]
    assert list(system_tmp.iterdir()) == []
