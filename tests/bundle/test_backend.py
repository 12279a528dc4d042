"""hatchling in persistent processes (:mod:`dioptra_plugins.bundle.backend`): the same bytes as
a process per build, no project code in a shared process, no project module on ``sys.path``."""

from __future__ import annotations

from contextlib import closing
from pathlib import Path
from typing import Any

import pytest
from gitrepos import TASKS, Repo

from dioptra_plugins.bundle import build as build_module
from dioptra_plugins.bundle.backend import Backends, runs_own_code
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.git_build import build_from_git
from dioptra_plugins.errors import BuildError

EPOCH = 1_700_000_000

# A module at a project's root named like one hatchling imports while it builds: running a
# project's file is running plugin code, which building must never do.
SHADOW = "import pathlib\npathlib.Path({marker!r}).write_text('ran')\n"

# A build hook that changes hatchling itself for every later build in the same process.
TAG_HOOK = """\
from hatchling.builders import wheel
from hatchling.builders.hooks.plugin.interface import BuildHookInterface


class Retag(BuildHookInterface):
    PLUGIN_NAME = "custom"

    def initialize(self, version, build_data):
        wheel.WheelBuilder.get_default_tag = lambda self: "py2.py3-none-any"
"""


def project(root: Path, name: str, *, extra: str = "") -> Path:
    folder = root / name
    (folder / name).mkdir(parents=True)
    (folder / name / "__init__.py").write_text(TASKS)
    (folder / "pyproject.toml").write_text(
        '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
        f'[project]\nname = "{name}"\nversion = "1.0"\nrequires-python = ">=3.11"\n' + extra
    )
    return folder


def test_a_commit_of_many_packages_builds_the_same_bytes_in_shared_processes(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    repo = Repo(tmp_path / "repo")
    names = [f"pkg{number}" for number in range(5)]
    for name in names:
        repo.write(f"plugins/{name}/__init__.py", TASKS.replace("double", f"double_{name}"))
    paths = ", ".join(f'"plugins/{name}"' for name in names)
    repo.write("pyproject.toml", f"[tool.dioptra-plugins]\npackages = [{paths}]\n")
    repo.commit()
    repo.git("tag", "v1.0")
    shared = build_from_git(f"{repo.url}@v1.0", tmp_path / "shared")
    # Every project taken for one that runs its own code: a hatchling process per package.
    monkeypatch.setattr(build_module, "runs_own_code", lambda _config: True)
    alone = build_from_git(f"{repo.url}@v1.0", tmp_path / "alone")
    assert [item.wheel.name for item in shared] == [item.wheel.name for item in alone]
    assert len(shared) == len(names)
    for one, other in zip(shared, alone, strict=True):
        assert one.wheel.read_bytes() == other.wheel.read_bytes()


@pytest.mark.parametrize("shared", [False, True], ids=["own-process", "shared-process"])
def test_a_module_at_the_project_root_is_never_imported(tmp_path: Path, shared: bool) -> None:
    marker = tmp_path / "ran"
    folder = project(tmp_path / "src", "rootshadow")
    for module in ("trove_classifiers", "calendar", "textwrap"):
        (folder / f"{module}.py").write_text(SHADOW.format(marker=str(marker)))
    with closing(Backends(1)) as backends:
        wheel = build_bundle(
            folder,
            tmp_path / "out",
            source_date_epoch=EPOCH,
            backends=backends if shared else None,
        )
    assert wheel.is_file()
    assert not marker.exists()


def test_a_project_with_a_build_hook_never_shares_a_process(tmp_path: Path) -> None:
    hooked = project(
        tmp_path / "src", "hooked", extra="[tool.hatch.build.targets.wheel.hooks.custom]\n"
    )
    (hooked / "hatch_build.py").write_text(TAG_HOOK)
    plain = project(tmp_path / "src", "plain")
    with closing(Backends(1)) as backends:
        # The hook works in its own process: its wheel is tagged py2.py3 (and refused)...
        with pytest.raises(BuildError, match=r"hooked-1\.0-py2\.py3-none-any\.whl"):
            build_bundle(hooked, tmp_path / "a", source_date_epoch=EPOCH, backends=backends)
        # ...and only there: in the one shared process, this wheel would be tagged so too.
        wheel = build_bundle(plain, tmp_path / "b", source_date_epoch=EPOCH, backends=backends)
    assert wheel.name == "plain-1.0-py3-none-any.whl"


def test_a_failed_build_ends_its_process_and_the_next_build_works(tmp_path: Path) -> None:
    broken = project(tmp_path / "src", "broken", extra='dependencies = ["not a requirement!"]\n')
    good = project(tmp_path / "src", "good")
    with closing(Backends(1)) as backends:
        with pytest.raises(BuildError, match=r"hatchling failed to build .*broken: "):
            build_bundle(broken, tmp_path / "a", source_date_epoch=EPOCH, backends=backends)
        assert backends._started == []  # the failed process is gone
        wheel = build_bundle(good, tmp_path / "b", source_date_epoch=EPOCH, backends=backends)
    assert wheel.name == "good-1.0-py3-none-any.whl"
    assert not (tmp_path / "a").exists()


def test_a_process_that_died_is_replaced(tmp_path: Path) -> None:
    good = project(tmp_path / "src", "good")
    with closing(Backends(1)) as backends:
        build_bundle(good, tmp_path / "a", source_date_epoch=EPOCH, backends=backends)
        (server,) = backends._started
        server.process.kill()
        server.process.wait()
        wheel = build_bundle(good, tmp_path / "b", source_date_epoch=EPOCH, backends=backends)
    assert wheel.is_file()


@pytest.mark.parametrize(
    ("config", "own"),
    [
        ({"build-system": {"requires": ["hatchling"]}}, False),
        ({"build-system": {"requires": ["hatchling>=1.20"]}, "tool": {"hatch": {}}}, False),
        ({"build-system": {"requires": ["hatchling", "hatch-vcs"]}}, True),
        ({"build-system": {"requires": ["not a requirement!"]}}, True),
        ({"build-system": {"requires": "hatchling"}}, True),
        ({"tool": {"hatch": {"build": {"hooks": {"custom": {}}}}}}, True),
        ({"tool": {"hatch": {"build": {"targets": {"wheel": {"hooks": {"x": {}}}}}}}}, True),
        ({"tool": {"hatch": {"metadata": {"hooks": {"custom": {}}}}}}, True),
        ({"tool": {"hatch": {"version": {"source": "code", "path": "v.py"}}}}, True),
        ({"tool": {"hatch": {"version": {"path": "pkg/__about__.py"}}}}, False),
        ({"tool": {"hatch": "not a table"}}, True),
    ],
)
def test_runs_own_code(config: dict[str, Any], own: bool) -> None:
    assert runs_own_code(config) is own
