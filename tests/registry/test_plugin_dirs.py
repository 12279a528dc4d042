"""plugin_dirs(): which directories go on sys.path, where, and the generation pin."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.plugindir.layout import PluginDirLayout, readable_plugin_dirs
from dioptra_plugins.plugindir.pins import pinned_generations
from dioptra_plugins.plugindir.syspath import plugin_dirs


@pytest.fixture(autouse=True)
def _restore_sys_path(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "path", list(sys.path))


def test_dirs_go_right_after_sys_path_0_in_order(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    first, second = tmp_path / "a", tmp_path / "b"
    first.mkdir()
    second.mkdir()
    monkeypatch.setenv("DIOPTRA_PLUGIN_DIR", f"{first}{os.pathsep}{second}")
    before = list(sys.path)
    with plugin_dirs() as entries:
        assert entries == [first, second]
        assert sys.path == [before[0], str(first), str(second), *before[1:]]
    assert sys.path == before


def test_relative_missing_empty_and_duplicate_entries_are_skipped(tmp_path: Path) -> None:
    real = tmp_path / "real"
    real.mkdir()
    (tmp_path / "file").write_text("")
    value = os.pathsep.join(
        [
            "",
            "relative/dir",
            str(tmp_path / "missing"),
            str(tmp_path / "file"),
            str(real),
            str(real),
        ]
    )
    assert readable_plugin_dirs(value) == [real]
    before = list(sys.path)
    with plugin_dirs(value):
        assert sys.path.count(str(real)) == 1
        assert "relative/dir" not in sys.path
    assert sys.path == before


def test_entry_already_on_sys_path_is_neither_duplicated_nor_removed(tmp_path: Path) -> None:
    sys.path.append(str(tmp_path))
    before = list(sys.path)
    with plugin_dirs(str(tmp_path)):
        assert sys.path == before
    assert sys.path == before


def test_unset_variable_changes_nothing(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DIOPTRA_PLUGIN_DIR", raising=False)
    before = list(sys.path)
    with plugin_dirs() as entries:
        assert entries == []
        assert sys.path == before


def test_restored_even_when_the_block_raises(tmp_path: Path) -> None:
    before = list(sys.path)
    with pytest.raises(RuntimeError), plugin_dirs(str(tmp_path)):
        raise RuntimeError("job failed")
    assert sys.path == before


def synced_dir(root: Path, generation: str = "000001") -> PluginDirLayout:
    layout = PluginDirLayout(root)
    store = layout.store / ("ab" * 32) / "pkg_synced"
    store.mkdir(parents=True)
    (store / "__init__.py").write_text("")
    gen = layout.generation_path(generation)
    gen.mkdir(parents=True)
    (gen / "pkg_synced").symlink_to(Path("..", "..", "store", "ab" * 32, "pkg_synced"))
    layout.current.symlink_to(Path("generations", generation))
    (root / "pkg_synced").symlink_to(Path(".dioptra-plugins", "current", "pkg_synced"))
    return layout


def test_synced_dir_puts_the_pinned_generation_on_the_path(tmp_path: Path) -> None:
    layout = synced_dir(tmp_path / "plugins")
    generation = layout.generation_path("000001").resolve()
    with plugin_dirs(str(layout.root)) as entries:
        assert entries == [generation]
        assert str(generation) in sys.path
        assert str(layout.root) not in sys.path
        assert pinned_generations(layout) == {"000001"}
        # a sync switching `current` meanwhile does not move us
        other = layout.generation_path("000002")
        other.mkdir()
        temp = layout.meta / "current.tmp"
        temp.symlink_to(Path("generations", "000002"))
        os.replace(temp, layout.current)
        assert str(generation) in sys.path
        assert pinned_generations(layout) == {"000001"}
    assert pinned_generations(layout) == set()
    assert str(generation) not in sys.path


def test_synced_dir_with_a_dangling_current_is_an_error(tmp_path: Path) -> None:
    layout = synced_dir(tmp_path / "plugins")
    layout.current.unlink()
    layout.current.symlink_to(Path("generations", "000099"))
    with pytest.raises(PluginDirError, match="current"), plugin_dirs(str(layout.root)):
        pass
