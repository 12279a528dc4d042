"""No shadowing (issue 21): sync refuses a bundle whose top-level import name the environment
already provides, naming what provides it, unless that name is allowed explicitly.

A plugin dir stands before site-packages on ``sys.path``: a bundle named ``yaml`` would replace
PyYAML, and one named ``dioptra_plugins`` the runtime itself, in every process that uses the
plugin dir.  A worker that has its own plugin dir on ``sys.path`` (inside ``plugin_dirs()``)
must still upgrade its own plugins: plugin dirs are not "the environment".
"""

from __future__ import annotations

import importlib.util
import json
import logging
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from synchelpers import CLI, build, installed, make_package, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.errors import ShadowingError, UsageError
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.syncing import shadowing
from snapshots import tree_snapshot


@pytest.fixture
def index(tmp_path: Path) -> str:
    return str(tmp_path / "index")


@pytest.fixture
def shadowing_wheels(tmp_path: Path) -> dict[str, Path]:
    """Bundles named like an installed distribution's module (PyYAML's ``yaml``, click's
    ``click``), like the runtime (``dioptra_plugins``), and a harmless one."""
    work = tmp_path / "work"
    wheels = {top: build(work, top, "1.0.0", modules=1) for top in ("yaml", "click", "alpha")}
    # The runtime's import name under another project name: the project "dioptra-plugins"
    # itself is refused by the resolver before any bundle is looked at.
    source = make_package(work / "src-runtime", "dioptra_plugins", "1.0.0", modules=1)
    wheels["dioptra_plugins"] = build_bundle(
        source, work / "wheels", version="1.0.0", name="runtime-takeover"
    )
    return wheels


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIOPTRA_")}
    return subprocess.run([CLI, *args], capture_output=True, text=True, env=env, check=False)


def test_sync_refuses_a_distributions_module_and_changes_nothing(
    index: str, shadowing_wheels: dict[str, Path], tmp_path: Path
) -> None:
    publish_wheels(index, shadowing_wheels.values())
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index, plugin_dir=plugin_dir)
    before = tree_snapshot(plugin_dir, modes=True)

    with pytest.raises(ShadowingError) as refused:
        sync(["alpha", "yaml", "click"], index=index, plugin_dir=plugin_dir)
    error = refused.value
    assert set(error.providers) == {"yaml", "click"}
    assert "the installed distribution PyYAML" in error.providers["yaml"]
    assert "site-packages" in error.providers["yaml"]
    assert "the installed distribution click" in error.providers["click"]
    assert error.bundles["yaml"] == ["yaml-1.0.0-py3-none-any.whl"]
    assert "--allow-shadowing click --allow-shadowing yaml" in str(error)
    assert tree_snapshot(plugin_dir, modes=True) == before
    assert installed(plugin_dir) == {"alpha": "1.0.0"}

    with pytest.raises(ShadowingError):  # a dry run says so too
        sync(["yaml"], index=index, plugin_dir=plugin_dir, dry_run=True)
    assert tree_snapshot(plugin_dir, modes=True) == before


def test_sync_refuses_a_bundle_named_dioptra_plugins(
    index: str, shadowing_wheels: dict[str, Path], tmp_path: Path
) -> None:
    publish_wheels(index, [shadowing_wheels["dioptra_plugins"]])
    plugin_dir = tmp_path / "plugins"
    with pytest.raises(ShadowingError) as refused:
        sync(["runtime-takeover"], index=index, plugin_dir=plugin_dir)
    provider = refused.value.providers["dioptra_plugins"]
    assert provider.startswith("dioptra-plugins itself, the runtime that loads plugins")
    assert PluginDirLayout(plugin_dir).current_name() is None
    assert not (plugin_dir / "dioptra_plugins").exists()


def test_the_command_exits_1_naming_the_distribution_and_allows_it_when_told(
    index: str, shadowing_wheels: dict[str, Path], tmp_path: Path
) -> None:
    publish_wheels(index, [shadowing_wheels["yaml"], shadowing_wheels["alpha"]])
    plugin_dir = tmp_path / "plugins"
    common = ("--index", index, "--plugin-dir", str(plugin_dir))
    refused = run_cli("sync", "yaml", "alpha", *common)
    assert refused.returncode == 1, refused.stderr
    assert "'yaml'" in refused.stderr
    assert "PyYAML" in refused.stderr
    assert "--allow-shadowing yaml" in refused.stderr
    assert "Traceback" not in refused.stderr
    assert PluginDirLayout(plugin_dir).current_name() is None

    as_json = run_cli("sync", "yaml", *common, "--json")
    assert as_json.returncode == 1
    document = json.loads(as_json.stdout)
    assert document["kind"] == "ShadowingError"
    assert "PyYAML" in document["error"]

    other = run_cli("sync", "yaml", *common, "--allow-shadowing", "click")
    assert other.returncode == 1, other.stderr  # allowing another name does not help

    bad = run_cli("sync", "yaml", *common, "--allow-shadowing", "yaml.sub")
    assert bad.returncode == 2, bad.stderr

    allowed = run_cli("sync", "yaml", "alpha", *common, "--allow-shadowing", "yaml")
    assert allowed.returncode == 0, allowed.stderr
    assert installed(plugin_dir) == {"yaml": "1.0.0", "alpha": "1.0.0"}


def test_allowed_in_the_library_and_unchanged_bundles_are_not_checked_again(
    index: str, shadowing_wheels: dict[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_wheels(index, [shadowing_wheels["yaml"], shadowing_wheels["alpha"]])
    plugin_dir = tmp_path / "plugins"
    with pytest.raises(UsageError):
        sync(["yaml"], index=index, plugin_dir=plugin_dir, allow_shadowing=["yaml/x"])
    result = sync(["yaml"], index=index, plugin_dir=plugin_dir, allow_shadowing="yaml")
    assert result.installed == {"yaml": "1.0.0"}

    asked: list[str] = []
    real = shadowing.provided_by

    def counting(name: str, search: list[str]) -> str | None:
        asked.append(name)
        return real(name, search)

    monkeypatch.setattr(shadowing, "provided_by", counting)
    assert sync(["yaml"], index=index, plugin_dir=plugin_dir).not_modified
    # yaml stays as it was: only alpha, new, is looked at.
    added = sync(["yaml", "alpha"], index=index, plugin_dir=plugin_dir)
    assert added.installed == {"alpha": "1.0.0"}
    assert asked == ["alpha"]


def test_a_module_on_the_interpreters_path_counts_too(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Not only distributions: what the import system finds on the environment's entries."""
    environment = tmp_path / "environment"
    (environment / "utils").mkdir(parents=True)
    (environment / "utils" / "__init__.py").write_text("")
    (environment / "data.py").write_text("")
    monkeypatch.setattr(sys, "path", [sys.path[0], str(environment), *sys.path[1:]])
    work = tmp_path / "work"
    publish_wheels(index, [build(work, "utils", "1.0.0", modules=1), build(work, "data", "1.0.0")])
    plugin_dir = tmp_path / "plugins"
    with pytest.raises(ShadowingError) as refused:
        sync(["utils", "data"], index=index, plugin_dir=plugin_dir)
    assert set(refused.value.providers) == {"utils", "data"}
    assert str(environment / "utils" / "__init__.py") in refused.value.providers["utils"]
    assert str(environment / "data.py") in refused.value.providers["data"]
    assert sync(["utils"], index=index, plugin_dir=plugin_dir, allow_shadowing=["utils"]).switched


WORKER = textwrap.dedent(
    """
    import json, sys
    from dioptra_plugins import plugin_dirs, sync

    plugin_dir, index = sys.argv[1:3]
    with plugin_dirs([plugin_dir]):
        import alpha
        before = alpha.VERSION
        result = sync(["alpha"], index=index, plugin_dir=plugin_dir)
    print(json.dumps({"before": before, "upgraded": result.upgraded}))
    """
)


def test_a_worker_inside_plugin_dirs_upgrades_its_own_plugin(index: str, tmp_path: Path) -> None:
    work = tmp_path / "work"
    publish_wheels(index, [build(work, "alpha", "1.0.0", modules=1)])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index, plugin_dir=plugin_dir)
    publish_wheels(index, [build(work, "alpha", "2.0.0", modules=1)])
    script = tmp_path / "worker.py"
    script.write_text(WORKER)
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIOPTRA_")}
    done = subprocess.run(
        [sys.executable, str(script), str(plugin_dir), index],
        capture_output=True,
        text=True,
        env=env,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == {"before": "1.0.0", "upgraded": {"alpha": ["1.0.0", "2.0.0"]}}
    assert installed(plugin_dir) == {"alpha": "2.0.0"}


def test_the_environment_leaves_out_plugin_dirs_and_their_generations(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    work = tmp_path / "work"
    publish_wheels(index, [build(work, "alpha", "1.0.0", modules=1)])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index, plugin_dir=plugin_dir)
    layout = PluginDirLayout(plugin_dir)
    generation = layout.current_generation()
    assert generation is not None
    plain = tmp_path / "plain"
    plain.mkdir()
    other = tmp_path / "other-plugins"
    other.mkdir()
    missing = tmp_path / "missing"
    monkeypatch.setenv("DIOPTRA_PLUGIN_DIR", os.pathsep.join([str(other), str(missing), "rel"]))
    entries = [str(generation), str(plugin_dir), str(layout.store), str(other)]
    monkeypatch.setattr(sys, "path", [sys.path[0], *entries, *sys.path[1:]])
    from dioptra_plugins import plugin_dirs

    with plugin_dirs([plain]):
        caplog.clear()
        with caplog.at_level(logging.DEBUG, logger="dioptra_plugins"):
            found = shadowing.environment_path(layout)
    assert not set(found) & {*entries, str(plain)}
    assert not caplog.records  # other processes' plugin dirs are no business of this sync
    assert any(entry.endswith("site-packages") for entry in found)
    assert shadowing.provided_by("alpha", found) is None


def test_what_provides_a_name_in_words(tmp_path: Path) -> None:
    (tmp_path / "shared_ns" / "portion").mkdir(parents=True)
    (tmp_path / "shared_ns" / "portion" / "__init__.py").write_text("")
    search = [*shadowing.environment_path(), str(tmp_path)]
    assert shadowing.provided_by("colorsys", search) == "the standard library"
    assert shadowing.provided_by("sys", search) == "the standard library"
    assert shadowing.provided_by("no_such_module_xyz", search) is None
    namespace = shadowing.provided_by("shared_ns", search)
    assert namespace == f"namespace package in {tmp_path / 'shared_ns'}, on the interpreter's path"


def test_an_editable_installs_hook_counts_and_no_other_hook_is_asked(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """setuptools' editable installs import through a hook of theirs (searched after
    ``sys.path``, so a plugin dir would shadow them); other hooks may act when asked, so they
    are never asked."""
    source = tmp_path / "checkout" / "edpkg"
    source.mkdir(parents=True)
    (source / "__init__.py").write_text("")
    asked: list[str] = []

    class EditableFinder:
        @classmethod
        def find_spec(cls, name: str, path: object, target: object = None) -> object:
            asked.append(f"editable:{name}")
            if name != "edpkg":
                return None
            return importlib.util.spec_from_file_location(name, source / "__init__.py")

    class OtherHook:
        def find_spec(self, name: str, path: object, target: object = None) -> object:
            asked.append(f"other:{name}")
            raise AssertionError("a hook that is not an editable install's was asked")

    EditableFinder.__module__ = "__editable___edproj_1_0_finder"
    monkeypatch.setattr(sys, "meta_path", [OtherHook(), *sys.meta_path, EditableFinder])
    search = [*shadowing.environment_path(), str(tmp_path / "nothing-here")]
    provider = shadowing.provided_by("edpkg", search)
    assert provider is not None
    assert str(source / "__init__.py") in provider
    assert "editable install, __editable___edproj_1_0_finder" in provider
    assert shadowing.provided_by("edpkg_absent", search) is None
    assert asked == ["editable:edpkg", "editable:edpkg_absent"]
