"""A namespace split across bundles: merged in the generation, switched in one rename,
verified, collected by gc; overlapping import packages refused with both names."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from synchelpers import publish_wheels

from dioptra_plugins import SyncResult, sync
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.errors import DioptraPluginsError, IndexFormatError, ResolutionError
from dioptra_plugins.plugindir.gc import gc, store_entries_reached
from dioptra_plugins.plugindir.generations import read_generation_lock
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.plugindir.maintenance import rollback
from dioptra_plugins.plugindir.pylock import LockFileError
from dioptra_plugins.plugindir.verify_dir import verify

TASK = (
    "from dioptra_plugins import pyplugs\n\n\n@pyplugs.register\n"
    'def {name}(x: int) -> str:\n    return "{name}-{version}-" + str(x)\n'
)


def portion(
    workdir: Path,
    namespace: str | None,
    folder: str,
    version: str,
    *,
    name: str | None = None,
    regular: bool = True,
) -> Path:
    """A bundle of ``namespace.folder`` (or of the package ``folder``) with one task module."""
    source = workdir / f"src-{name or folder}-{version}" / folder
    source.mkdir(parents=True)
    if regular:
        (source / "__init__.py").write_text("")
    (source / "tasks.py").write_text(TASK.format(name=folder, version=version))
    return build_bundle(source, workdir / "wheels", version=version, namespace=namespace, name=name)


@pytest.fixture
def index(tmp_path: Path) -> str:
    return str(tmp_path / "index")


@pytest.fixture
def bundles(tmp_path: Path) -> dict[str, Path]:
    work = tmp_path / "work"
    return {
        "fgm-1": portion(work, "labns", "fgm", "1.0"),
        "fgm-2": portion(work, "labns", "fgm", "2.0"),
        # A portion that is itself a namespace package, as Dioptra's feature_squeezing.
        "squeeze-1": portion(work, "labns", "squeeze", "1.0", regular=False),
    }


def snapshot_of(plugin_dir: Path) -> dict[str, str | bool]:
    seen: dict[str, str | bool] = {}
    for path in sorted(plugin_dir.rglob("*")):
        relative = path.relative_to(plugin_dir).as_posix()
        if "/cache/" in relative or relative.endswith("/lock"):
            continue
        seen[relative] = f"-> {os.readlink(path)}" if path.is_symlink() else path.is_dir() and "dir"
    return seen


def generation_of(result: SyncResult) -> str:
    """``result.generation``, which every sync that switched has."""
    assert result.generation is not None
    return result.generation


def run(plugin_dir: Path, code: str) -> str:
    """Run ``code`` in a fresh interpreter with the plugin dir on the path through plugin_dirs."""
    program = "from dioptra_plugins import plugin_dirs, pyplugs\nwith plugin_dirs():\n" + "".join(
        f"    {line}\n" for line in code.splitlines()
    )
    env = {**os.environ, "DIOPTRA_PLUGIN_DIR": str(plugin_dir)}
    done = subprocess.run(
        [sys.executable, "-c", program], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.strip()


def test_portions_from_two_bundles_merge_into_one_namespace(
    index: str, bundles: dict[str, Path], tmp_path: Path
) -> None:
    publish_wheels(index, [bundles["fgm-1"], bundles["squeeze-1"]])
    plugin_dir = tmp_path / "plugins"
    result = sync(["labns-fgm", "labns-squeeze"], index=index, plugin_dir=plugin_dir)
    assert result.installed == {"labns-fgm": "1.0", "labns-squeeze": "1.0"}

    layout = PluginDirLayout(plugin_dir)
    generation = layout.generation_path(generation_of(result))
    lock = read_generation_lock(layout, generation_of(result))
    sha = {p.name: p.sha256 for p in lock.packages}
    assert {p.top_level for p in lock.packages} == {"labns.fgm", "labns.squeeze"}
    # One real directory, one link per portion, each climbing out of it into the store.
    namespace = generation / "labns"
    assert namespace.is_dir()
    assert not namespace.is_symlink()
    assert sorted(os.listdir(namespace)) == ["fgm", "squeeze"]
    assert os.readlink(namespace / "fgm") == f"../../../store/{sha['labns-fgm']}/labns/fgm"
    assert os.readlink(namespace / "squeeze") == (
        f"../../../store/{sha['labns-squeeze']}/labns/squeeze"
    )
    # The stable entry link is the one it always was: one per top-level name.
    assert os.readlink(plugin_dir / "labns") == ".dioptra-plugins/current/labns"
    assert sorted(p.name for p in plugin_dir.iterdir()) == [".dioptra-plugins", "labns"]
    report = verify(plugin_dir)
    assert report.ok, report.problems

    found = run(
        plugin_dir,
        'print(pyplugs.call("labns.fgm", "tasks", "fgm", 1), '
        'pyplugs.call("labns.squeeze", "tasks", "squeeze", 2))',
    )
    assert found == "fgm-1.0-1 squeeze-1.0-2"
    # Through the entry links too, as a plain sys.path entry.
    code = f"import sys; sys.path.insert(0, {str(plugin_dir)!r}); import labns.squeeze.tasks as m"
    done = subprocess.run(
        [sys.executable, "-c", code + "; print(m.squeeze(3))"],
        capture_output=True,
        text=True,
        check=True,
    )
    assert done.stdout.strip() == "squeeze-1.0-3"
    # Importing compiled nothing new: the dir still verifies (bytecode on, the default).
    assert verify(plugin_dir).ok


def test_upgrading_one_portion_switches_in_one_rename_and_gc_follows_nested_links(
    index: str, bundles: dict[str, Path], tmp_path: Path
) -> None:
    publish_wheels(index, [bundles["fgm-1"], bundles["fgm-2"], bundles["squeeze-1"]])
    plugin_dir = tmp_path / "plugins"
    layout = PluginDirLayout(plugin_dir)
    first = sync(["labns-fgm==1.0", "labns-squeeze"], index=index, plugin_dir=plugin_dir)
    second = sync(["labns-fgm==2.0", "labns-squeeze"], index=index, plugin_dir=plugin_dir)
    assert second.upgraded == {"labns-fgm": ("1.0", "2.0")}
    assert run(plugin_dir, 'print(pyplugs.call("labns.fgm", "tasks", "fgm", 5))') == "fgm-2.0-5"
    sha = {
        (p.name, p.version): p.sha256
        for name in (generation_of(first), generation_of(second))
        for p in read_generation_lock(layout, name).packages
    }
    fgm1, fgm2 = sha[("labns-fgm", "1.0")], sha[("labns-fgm", "2.0")]
    squeeze = sha[("labns-squeeze", "1.0")]
    assert store_entries_reached(layout, generation_of(first)) == {fgm1, squeeze}
    third = sync(["labns-squeeze"], index=index, plugin_dir=plugin_dir)

    # Liveness comes from the links inside the merged directory, not from the lock: with the
    # previous generation's lock damaged, gc still keeps the portion only its links reach.
    (layout.generation_path(generation_of(second)) / "pylock.toml").write_text("damaged")
    assert store_entries_reached(layout, generation_of(second)) == {fgm2, squeeze}
    result = gc(plugin_dir, keep=0)
    assert result.kept == [second.generation, third.generation]
    assert result.removed_generations == [first.generation]
    assert result.removed_store_entries == [fgm1]
    assert layout.store_entry(fgm2).is_dir()
    assert layout.store_entry(squeeze).is_dir()


def test_removing_portions_keeps_the_entry_link_until_the_last_goes(
    index: str, bundles: dict[str, Path], tmp_path: Path
) -> None:
    labns_other = portion(tmp_path / "work", None, "otherpkg", "1.0")
    publish_wheels(index, [bundles["fgm-1"], bundles["squeeze-1"], labns_other])
    plugin_dir = tmp_path / "plugins"
    sync(["labns-fgm", "labns-squeeze"], index=index, plugin_dir=plugin_dir)
    only = sync(["labns-squeeze"], index=index, plugin_dir=plugin_dir)
    generation = PluginDirLayout(plugin_dir).generation_path(generation_of(only))
    assert os.listdir(generation / "labns") == ["squeeze"]
    assert (plugin_dir / "labns").is_symlink()
    assert verify(plugin_dir).ok
    sync(["otherpkg"], index=index, plugin_dir=plugin_dir)
    assert not (plugin_dir / "labns").is_symlink()
    assert os.readlink(plugin_dir / "otherpkg") == ".dioptra-plugins/current/otherpkg"
    assert verify(plugin_dir).ok
    # Rolling back brings the merged namespace and its entry link back in one switch.
    rollback(plugin_dir, to=only.generation)
    assert os.readlink(plugin_dir / "labns") == ".dioptra-plugins/current/labns"
    assert run(plugin_dir, 'print(pyplugs.call("labns.squeeze", "tasks", "squeeze", 4))') == (
        "squeeze-1.0-4"
    )
    assert verify(plugin_dir).ok


def test_two_bundles_shipping_the_same_module_are_refused_with_both_names(
    index: str, bundles: dict[str, Path], tmp_path: Path
) -> None:
    rival = portion(tmp_path / "work", "labns", "fgm", "1.0", name="rival-fgm")
    publish_wheels(index, [bundles["fgm-1"], rival])
    plugin_dir = tmp_path / "plugins"
    with pytest.raises(ResolutionError) as caught:
        sync(["labns-fgm", "rival-fgm"], index=index, plugin_dir=plugin_dir)
    message = str(caught.value)
    assert "labns-fgm 1.0" in message
    assert "rival-fgm 1.0" in message
    assert "'labns.fgm'" in message
    assert not plugin_dir.exists() or not (plugin_dir / "labns").exists()


def test_same_module_twice_in_a_lock_is_refused_with_both_names(
    index: str, bundles: dict[str, Path], tmp_path: Path
) -> None:
    rival = portion(tmp_path / "work", "labns", "fgm", "1.0", name="rival-fgm")
    publish_wheels(index, [bundles["fgm-1"], rival])
    first, second = tmp_path / "one", tmp_path / "two"
    sync(["labns-fgm"], index=index, plugin_dir=first)
    sync(["rival-fgm"], index=index, plugin_dir=second)
    # A hand-made lock that joins the two: the index still has both exact files.
    one = (first / ".dioptra-plugins" / "current" / "pylock.toml").read_text()
    two = (second / ".dioptra-plugins" / "current" / "pylock.toml").read_text()
    rival_table = two[two.index("[[packages]]") : two.index("[tool.dioptra-plugins]\n")]
    joined = one.replace("[[packages]]", rival_table + "[[packages]]", 1)
    lock = tmp_path / "joined.toml"
    lock.write_text(joined)
    target = tmp_path / "three"
    with pytest.raises(ResolutionError) as caught:
        sync(locked=lock, index=index, plugin_dir=target)
    assert "labns-fgm 1.0 and rival-fgm 1.0 both ship the module 'labns.fgm'" in str(caught.value)
    assert not (target / ".dioptra-plugins" / "current").exists()


def test_portion_inside_a_regular_package_of_another_bundle_is_refused(
    index: str, bundles: dict[str, Path], tmp_path: Path
) -> None:
    regular = portion(tmp_path / "work", None, "labns", "1.0", name="labns-regular")
    publish_wheels(index, [bundles["fgm-1"], regular])
    plugin_dir = tmp_path / "plugins"
    sync(["labns-regular"], index=index, plugin_dir=plugin_dir)
    before = snapshot_of(plugin_dir)
    with pytest.raises(ResolutionError) as caught:
        sync(["labns-regular", "labns-fgm"], index=index, plugin_dir=plugin_dir)
    message = str(caught.value)
    assert "labns-regular 1.0 ships the package 'labns'" in message
    assert "labns-fgm 1.0 the namespace portion 'labns.fgm' inside it" in message
    assert snapshot_of(plugin_dir) == before


@pytest.mark.parametrize(
    "hostile", ["../x", "labns/../x", "labns...x", "labns.fgm/../../x", "labns.", "/x"]
)
def test_portion_named_with_a_path_in_the_index_is_refused(
    index: str, bundles: dict[str, Path], hostile: str
) -> None:
    from dioptra_plugins.index.documents import FileEntry

    publish_wheels(index, [bundles["fgm-1"]])
    (document,) = (Path(index) / "projects" / "labns-fgm").glob("*.json")
    entry = json.loads(document.read_bytes())["files"][0]
    assert entry["top_level"] == "labns.fgm"
    entry["top_level"] = hostile
    entry["manifest"]["package"] = hostile
    with pytest.raises(IndexFormatError, match="must be an importable package name"):
        FileEntry.from_json(entry, "labns-fgm")


@pytest.mark.parametrize("hostile", ["labns/../../x", "../x", "labns..x"])
def test_portion_named_with_a_path_in_a_lock_is_refused(
    index: str, bundles: dict[str, Path], tmp_path: Path, hostile: str
) -> None:
    publish_wheels(index, [bundles["fgm-1"]])
    source = tmp_path / "source"
    sync(["labns-fgm"], index=index, plugin_dir=source)
    text = (source / ".dioptra-plugins" / "current" / "pylock.toml").read_text()
    assert 'top-level = "labns.fgm"' in text
    lock = tmp_path / "hostile.toml"
    lock.write_text(text.replace('top-level = "labns.fgm"', f'top-level = "{hostile}"'))
    target = tmp_path / "target"
    with pytest.raises(LockFileError, match="an importable package name"):
        sync(locked=lock, index=index, plugin_dir=target)
    assert not (tmp_path / "x").exists()
    assert not (target / ".dioptra-plugins" / "current").exists()


def test_verify_checks_the_merged_layout(
    index: str, bundles: dict[str, Path], tmp_path: Path
) -> None:
    publish_wheels(index, [bundles["fgm-1"], bundles["squeeze-1"]])
    plugin_dir = tmp_path / "plugins"
    result = sync(["labns-fgm", "labns-squeeze"], index=index, plugin_dir=plugin_dir)
    namespace = PluginDirLayout(plugin_dir).generation_path(generation_of(result)) / "labns"

    (namespace / "planted.py").write_text("print('hi')\n")
    assert any(
        "labns/planted.py: not part of the generation" in p for p in verify(plugin_dir).problems
    )
    (namespace / "planted.py").unlink()

    fgm = os.readlink(namespace / "fgm")
    squeeze = os.readlink(namespace / "squeeze")
    (namespace / "fgm").unlink()
    os.symlink(squeeze, namespace / "fgm")
    assert any("labns/fgm: points at" in p for p in verify(plugin_dir).problems)
    (namespace / "fgm").unlink()
    os.symlink(fgm, namespace / "fgm")
    assert verify(plugin_dir).ok

    # The merged directory swapped for a link to one portion's namespace in the store.
    moved = namespace.with_name("labns-moved")
    namespace.rename(moved)
    os.symlink(os.path.join("..", squeeze), namespace)
    problems = verify(plugin_dir).problems
    assert any("not the directory that merges the portions" in p for p in problems), problems
    namespace.unlink()
    moved.rename(namespace)
    assert verify(plugin_dir).ok


def test_unmanaged_namespace_directory_in_the_plugin_dir_is_refused(
    index: str, bundles: dict[str, Path], tmp_path: Path
) -> None:
    publish_wheels(index, [bundles["fgm-1"]])
    plugin_dir = tmp_path / "plugins"
    (plugin_dir / "labns").mkdir(parents=True)
    with pytest.raises(DioptraPluginsError, match="does not manage"):
        sync(["labns-fgm"], index=index, plugin_dir=plugin_dir)
    shutil.rmtree(plugin_dir / "labns")
    sync(["labns-fgm"], index=index, plugin_dir=plugin_dir)
    assert verify(plugin_dir).ok
