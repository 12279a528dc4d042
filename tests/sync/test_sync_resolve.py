"""Resolution: ranges, dependencies, conflicts, yanked versions, missing packages, environment."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
from synchelpers import installed, publish_wheels, yank

from dioptra_plugins import sync
from dioptra_plugins.errors import EnvironmentRequirementError, ResolutionError, UsageError


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, wheels.values())
    return url


@pytest.mark.parametrize(
    ("requirements", "expected"),
    [
        (["alpha"], {"alpha": "2.0.0"}),
        (["alpha<2"], {"alpha": "1.1.0"}),
        (["alpha>=1,<1.1"], {"alpha": "1.0.0"}),
        (["alpha==1.0.*"], {"alpha": "1.0.0"}),
        (["Alpha~=1.0"], {"alpha": "1.1.0"}),
        (["beta"], {"alpha": "1.1.0", "beta": "1.0.0"}),
        (["beta", "alpha!=1.1.0"], {"alpha": "1.0.0", "beta": "1.0.0"}),
        (["omega"], {"alpha": "2.0.0", "omega": "1.0.0"}),
        (["gamma"], {"gamma": "1.0.0"}),
    ],
)
def test_ranges_and_dependencies(
    index: str, tmp_path: Path, requirements: list[str], expected: dict[str, str]
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(requirements, index=index, plugin_dir=plugin_dir)
    assert installed(plugin_dir) == expected


def test_a_conflict_says_who_wants_what(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    with pytest.raises(ResolutionError) as caught:
        sync(["beta", "omega"], index=index, plugin_dir=plugin_dir)
    message = str(caught.value)
    assert "beta 1.0.0 wants alpha<2,>=1" in message
    assert "omega 1.0.0 wants alpha>=2" in message
    assert "alpha has 1.0.0, 1.1.0, 2.0.0" in message
    assert not plugin_dir.exists() or installed(plugin_dir) == {}


def test_user_requirement_conflict(index: str, tmp_path: Path) -> None:
    with pytest.raises(ResolutionError, match="you want alpha>=3"):
        sync(["alpha>=3"], index=index, plugin_dir=tmp_path / "plugins")


def test_yanked_versions_are_skipped_unless_pinned(index: str, tmp_path: Path) -> None:
    yank(index, "alpha", "2.0.0")
    plugin_dir = tmp_path / "plugins"
    assert sync(["alpha"], index=index, plugin_dir=plugin_dir).installed == {"alpha": "1.1.0"}
    with pytest.raises(ResolutionError, match=r"yanked: 2\.0\.0; pin one with =="):
        sync(["alpha>=2"], index=index, plugin_dir=plugin_dir)
    assert installed(plugin_dir) == {"alpha": "1.1.0"}
    result = sync(["alpha==2.0.0"], index=index, plugin_dir=plugin_dir)
    assert result.upgraded == {"alpha": ("1.1.0", "2.0.0")}


def test_missing_package_names_the_index_projects(index: str, tmp_path: Path) -> None:
    with pytest.raises(
        ResolutionError, match=r"not in the index .*: nothere>=1 \(its projects: alpha"
    ):
        sync(["nothere>=1"], index=index, plugin_dir=tmp_path / "plugins")


def test_unmet_environment_requirements_are_listed(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    with pytest.raises(EnvironmentRequirementError) as caught:
        sync(["delta"], index=index, plugin_dir=plugin_dir)
    message = str(caught.value)
    assert "no-such-distribution-xyz>=1 (needed by delta 1.0.0): not installed" in message
    assert "packaging>=999 (needed by delta 1.0.0): version " in message
    assert not plugin_dir.exists() or installed(plugin_dir) == {}


def test_ignore_env_deps_warns_and_installs(
    index: str, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    plugin_dir = tmp_path / "plugins"
    with caplog.at_level(logging.WARNING, logger="dioptra_plugins"):
        result = sync(["delta"], index=index, plugin_dir=plugin_dir, ignore_env_deps=True)
    assert result.installed == {"delta": "1.0.0"}
    assert "no-such-distribution-xyz" in caplog.text


@pytest.mark.parametrize(
    "bad", ["alpha>=", "alpha[extra]", "alpha; python_version<'3'", "alpha @ https://x/a.whl"]
)
def test_malformed_requirements_are_usage_errors(index: str, tmp_path: Path, bad: str) -> None:
    with pytest.raises(UsageError):
        sync([bad], index=index, plugin_dir=tmp_path / "plugins")
