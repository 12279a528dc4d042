"""The watcher: real files, real inotify events, each editor save style and each pitfall."""

from __future__ import annotations

import os
import py_compile
import shutil
import sys
import time
from pathlib import Path

import pytest
from registry_helpers import EventLog, PluginArea

from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.registry.registry import Registry
from dioptra_plugins.registry.reload import SourceEmptied
from dioptra_plugins.registry.watcher import watch

DEBOUNCE = 0.02
QUIET = 0.4  # seconds without events after which "nothing else will happen" is concluded

PLUGIN = """
from dioptra_plugins import pyplugs

@pyplugs.register
def answer():
    return {value!r}
"""


def plugin(value: object) -> str:
    return PLUGIN.format(value=value)


@pytest.fixture
def loaded(area: PluginArea, registry: Registry) -> str:
    package = area.package({"mod.py": plugin(1), "_helper.py": "VALUE = 1\n"})
    assert registry.call(package, "mod") == 1
    return package


@pytest.mark.parametrize("style", ["inplace", "replace", "vim"])
def test_each_save_style_is_reloaded_once(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str, style: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        area.write(f"{loaded}/mod.py", plugin(2), style=style)
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.ok
        assert event.changed == ("answer",)
        assert registry.call(loaded, "mod") == 2
        assert event_log.drain(QUIET) == []  # one save, one reload


def test_touch_only_does_not_reload(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE) as watcher:
        os.utime(area.path(f"{loaded}/mod.py"))
        area.path(f"{loaded}/mod.py").read_bytes()  # open + close without writing
        os.chmod(area.path(f"{loaded}/mod.py"), 0o644)  # attribute-only
        with open(area.path(f"{loaded}/mod.py"), "ab"):  # opened for writing, nothing written
            pass
        area.write(f"{loaded}/mod.py", plugin(1), style="replace")  # saved without changes
        assert event_log.drain(QUIET) == []
        assert watcher.reload_count == 0


def test_pycache_and_other_files_are_ignored(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE) as watcher:
        py_compile.compile(str(area.path(f"{loaded}/mod.py")), doraise=True)
        area.write(f"{loaded}/notes.txt", "not python")
        area.write(f"{loaded}/data.json", "{}")
        assert event_log.drain(QUIET) == []
        assert watcher.reload_count == 0


def test_idle_for_two_seconds_reloads_nothing(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE) as watcher:
        time.sleep(2)
        assert watcher.reload_count == 0
    assert event_log.drain(0.05) == []


def test_syntax_error_is_reported_and_old_version_kept(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        area.write(f"{loaded}/mod.py", "def answer(:\n")
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.error is not None
        assert event.error.line == 1
        assert registry.call(loaded, "mod") == 1
        area.write(f"{loaded}/mod.py", plugin(3))
        assert event_log.wait(lambda e: e.module == f"{loaded}.mod").ok
        assert registry.call(loaded, "mod") == 3


def test_exception_at_import_keeps_old(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        area.write(f"{loaded}/mod.py", plugin(2) + "\nraise ValueError('no')\n")
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.error is not None
        assert "ValueError" in event.error.message
        assert registry.call(loaded, "mod") == 1


def test_function_removed(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        area.write(f"{loaded}/mod.py", "from dioptra_plugins import pyplugs\n")
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.removed == ("answer",)
        assert not registry.exists(loaded, "mod")


def test_file_deleted_unregisters(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        area.path(f"{loaded}/mod.py").unlink()
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.unloaded
        assert event.removed == ("answer",)
        assert not registry.exists(loaded, "mod")
        area.write(f"{loaded}/mod.py", plugin(4))  # and brought back
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.added == ("answer",)
        assert registry.call(loaded, "mod") == 4


def test_helper_edit_reloads_dependents(
    area: PluginArea, registry: Registry, event_log: EventLog
) -> None:
    package = area.package(
        {
            "_helper.py": "VALUE = 1\n",
            "top.py": "from dioptra_plugins import pyplugs\nfrom ._helper import VALUE\n"
            "@pyplugs.register\ndef f():\n    return VALUE\n",
        }
    )
    assert registry.call(package, "top") == 1
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        area.write(f"{package}/_helper.py", "VALUE = 2\n", style="replace")
        event_log.wait(lambda e: e.module == f"{package}.top")
        assert registry.call(package, "top") == 2


def test_helper_imported_before_the_watcher_started(
    area: PluginArea, registry: Registry, event_log: EventLog
) -> None:
    # The helper was imported by plain Python, not the registry; touching it must not count.
    import importlib

    package = area.package({"_helper.py": "VALUE = 1\n"})
    importlib.import_module(f"{package}._helper")
    with watch([area.root], registry=registry, debounce=DEBOUNCE) as watcher:
        os.utime(area.path(f"{package}/_helper.py"))
        assert event_log.drain(QUIET) == []
        area.write(f"{package}/_helper.py", "VALUE = 2\n")
        event_log.wait(lambda e: e.module == f"{package}._helper")
        assert sys.modules[f"{package}._helper"].VALUE == 2
        assert watcher.reload_count == 1


def test_directory_moved_out_of_the_tree(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str, tmp_path: Path
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        shutil.move(str(area.path(loaded)), str(tmp_path / "elsewhere"))
        event_log.wait(lambda e: e.module == f"{loaded}.mod" and e.unloaded)
        assert not registry.exists(loaded, "mod")


def test_same_second_same_size_edits(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    path = area.path(f"{loaded}/mod.py")
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        for value in (5, 6, 7):
            stat = path.stat()
            area.write(f"{loaded}/mod.py", plugin(value))
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
            event_log.wait(lambda e: e.module == f"{loaded}.mod")
            assert registry.call(loaded, "mod") == value


def test_burst_of_saves_is_coalesced_and_the_last_save_wins(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    # The first save reloads at once (the leading edge); the rest of the burst waits for one
    # trailing reload, which loads the last save (or nothing, if the leading one already had it).
    with watch([area.root], registry=registry, debounce=0.2) as watcher:
        for value in range(10, 20):
            area.write(f"{loaded}/mod.py", plugin(value))
        event_log.wait(lambda e: e.module == f"{loaded}.mod" and registry.call(loaded, "mod") == 19)
        assert event_log.drain(QUIET) == []
        assert registry.call(loaded, "mod") == 19
        assert 1 <= watcher.reload_count <= 2
        assert all(event.ok for event in event_log.seen)


def test_a_save_landing_during_a_reload_is_the_one_left_loaded(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    # The second save is written from inside the first reload's notification, before the
    # reload thread is done with it: it must queue a reload of its own, not be swallowed.
    saved: list[Path] = []

    def save_again(event: object) -> None:
        if not saved:
            saved.append(area.write(f"{loaded}/mod.py", plugin(3)))

    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        unsubscribe = registry.subscribe(save_again)
        try:
            area.write(f"{loaded}/mod.py", plugin(2))
            event_log.wait(lambda e: e.module == f"{loaded}.mod" and len(event_log.seen) == 2)
        finally:
            unsubscribe()
        assert registry.call(loaded, "mod") == 3
        assert [e.changed for e in event_log.seen] == [("answer",), ("answer",)]


@pytest.mark.parametrize("style", ["inplace", "replace", "vim"])
def test_a_lone_save_does_not_wait_for_the_debounce(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str, style: str
) -> None:
    # With a one-minute debounce only the leading edge can reload within the test's wait.
    with watch([area.root], registry=registry, debounce=60):
        area.write(f"{loaded}/mod.py", plugin(2), style=style)
        assert event_log.wait(lambda e: e.module == f"{loaded}.mod", timeout=20).ok
        assert registry.call(loaded, "mod") == 2


# --- editors that save in several steps: never loaded half-written -----------------------------

HALF = plugin(2)[: len(plugin(2)) // 2]  # cut inside the function: does not compile


def test_in_place_save_in_two_writes_keeps_the_old_version_in_between(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    path = area.path(f"{loaded}/mod.py")
    # The truncation and the first write must come within one debounce (else the empty file is
    # taken as meant): 0.3 s leaves a loaded machine ample room.
    with watch([area.root], registry=registry, debounce=0.3):
        with open(path, "wb") as handle:
            handle.write(HALF.encode())
            handle.flush()  # seen by the trailing edge of the modification, file still open
            event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
            assert event.error is not None
            assert registry.call(loaded, "mod") == 1  # the half-written file is not loaded
            handle.write(plugin(2)[len(HALF) :].encode())
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.ok
        assert registry.call(loaded, "mod") == 2


def test_truncate_then_write_never_loads_the_empty_file(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    # An editor that truncates in one open and writes in the next: the empty file in between
    # is valid Python and would unregister the task if the leading edge loaded it.  The pause
    # lets the leading edge see the empty file; the debounce, 5x the pause, keeps the two steps
    # within one burst on a loaded machine.
    path = area.path(f"{loaded}/mod.py")
    with watch([area.root], registry=registry, debounce=1.0) as watcher:
        with open(path, "wb"):
            pass
        time.sleep(0.2)
        with open(path, "ab") as handle:
            handle.write(plugin(2).encode())
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.ok
        assert event.removed == ()
        assert registry.call(loaded, "mod") == 2
        assert event_log.drain(QUIET) == []
        assert watcher.reload_count == 1


def test_emptying_a_file_on_purpose_is_loaded_after_the_debounce(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        area.write(f"{loaded}/mod.py", "")
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.removed == ("answer",)
        assert not registry.exists(loaded, "mod")


def test_temp_file_written_in_steps_is_loaded_once_when_renamed(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    path = area.path(f"{loaded}/mod.py")
    temp = path.with_name(".mod.py.swp")
    with watch([area.root], registry=registry, debounce=DEBOUNCE) as watcher:
        with open(temp, "wb") as handle:
            handle.write(HALF.encode())
            handle.flush()
            assert event_log.drain(QUIET) == []  # the temp file is nobody's module
            handle.write(plugin(2)[len(HALF) :].encode())
        os.replace(temp, path)
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.ok
        assert registry.call(loaded, "mod") == 2
        assert event_log.drain(QUIET) == []
        assert watcher.reload_count == 1


def test_vim_style_save_written_in_steps_keeps_the_old_version_in_between(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    path = area.path(f"{loaded}/mod.py")
    backup = path.with_name("mod.py~")
    with watch([area.root], registry=registry, debounce=DEBOUNCE):
        os.rename(path, backup)
        with open(path, "wb") as handle:
            handle.write(HALF.encode())
            handle.flush()
            event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
            assert event.error is not None  # not unloaded: the file came back, half-written
            assert registry.call(loaded, "mod") == 1
            handle.write(plugin(2)[len(HALF) :].encode())
        backup.unlink()
        event = event_log.wait(lambda e: e.module == f"{loaded}.mod")
        assert event.ok
        assert registry.call(loaded, "mod") == 2
        assert not any(e.unloaded for e in event_log.seen)


def test_rescan_reloads_what_changed(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=60) as watcher:
        area.write(f"{loaded}/mod.py", plugin(8))  # the leading edge: reloaded at once
        event_log.wait(lambda e: e.module == f"{loaded}.mod")
        area.write(f"{loaded}/mod.py", plugin(9))  # in the burst: its trailing edge never due
        events = watcher.rescan()
        assert [e.module for e in events] == [f"{loaded}.mod"]
        assert registry.call(loaded, "mod") == 9
        assert watcher.rescan() == []


def test_new_module_loaded_with_load_new(
    area: PluginArea, registry: Registry, event_log: EventLog, loaded: str
) -> None:
    with watch([area.root], registry=registry, debounce=DEBOUNCE, load_new=True):
        area.write(f"{loaded}/fresh.py", plugin("new"))
        event = event_log.wait(lambda e: e.module == f"{loaded}.fresh")
        assert event.added == ("answer",)
        assert registry.call(loaded, "fresh") == "new"


def test_watch_needs_a_directory(
    tmp_path: Path, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DIOPTRA_PLUGIN_DIR", raising=False)
    with pytest.raises(PluginDirError), watch(None, registry=registry):
        pass
    with pytest.raises(PluginDirError), watch([tmp_path / "missing"], registry=registry):
        pass


# --- a synced plugin dir switching generations -------------------------------------------------


def make_generation(plugin_dir: Path, number: int, package: str, files: dict[str, str]) -> Path:
    """Build store/<sha>/<pkg> and generations/<n>/<pkg> -> ../../store/<sha>/<pkg> by hand."""
    meta = plugin_dir / ".dioptra-plugins"
    sha = f"{number:02d}" * 32
    store_pkg = meta / "store" / sha / package
    store_pkg.mkdir(parents=True)
    for name, text in {"__init__.py": "", **files}.items():
        (store_pkg / name).write_text(text)
    generation = meta / "generations" / f"{number:06d}"
    generation.mkdir(parents=True)
    (generation / package).symlink_to(Path("..", "..", "store", sha, package))
    return generation


def switch_current(plugin_dir: Path, number: int) -> None:
    meta = plugin_dir / ".dioptra-plugins"
    temp = meta / f".current.{number}"
    temp.symlink_to(Path("generations", f"{number:06d}"))
    os.replace(temp, meta / "current")


def test_generation_switch_reloads_changed_modules(
    tmp_path: Path, area: PluginArea, registry: Registry, event_log: EventLog
) -> None:
    from dioptra_plugins.plugindir.layout import PluginDirLayout
    from dioptra_plugins.plugindir.pins import pinned_generations
    from dioptra_plugins.plugindir.syspath import plugin_dirs

    plugin_dir = tmp_path / "synced"
    package = area.package({})  # only for a unique name and sys.modules clean-up
    shutil.rmtree(area.path(package))
    unchanged = (
        "from dioptra_plugins import pyplugs\n@pyplugs.register\ndef same():\n    return 0\n"
    )
    make_generation(plugin_dir, 1, package, {"mod.py": plugin(1), "stable.py": unchanged})
    make_generation(plugin_dir, 2, package, {"mod.py": plugin(2), "stable.py": unchanged})
    switch_current(plugin_dir, 1)
    (plugin_dir / package).symlink_to(Path(".dioptra-plugins", "current", package))
    layout = PluginDirLayout(plugin_dir)
    with plugin_dirs(str(plugin_dir)) as entries:
        assert entries == [layout.generation_path("000001").resolve()]
        assert registry.call(package, "mod") == 1
        assert registry.call(package, "stable") == 0
        with watch([plugin_dir], registry=registry, debounce=DEBOUNCE):
            switch_current(plugin_dir, 2)
            event = event_log.wait(lambda e: e.module == f"{package}.mod")
            assert event.changed == ("answer",)
            assert registry.call(package, "mod") == 2
            assert str(layout.generation_path("000002").resolve()) in sys.path
            assert "000002" in pinned_generations(layout)
            assert [e.module for e in event_log.drain(QUIET)] == []  # stable.py: unchanged
        assert "000001" in pinned_generations(layout)  # plugin_dirs' own pin
    assert pinned_generations(layout) == set()
    assert not any(".dioptra-plugins" in entry for entry in sys.path)


def test_a_reload_asked_to_hold_emptied_sources_checks_the_bytes_it_reads(
    area: PluginArea, registry: Registry, loaded: str
) -> None:
    # The watcher's check of an emptied file is made on the bytes the reload would run, so a
    # truncation between a size check and the read cannot load an empty module.
    path = area.path(f"{loaded}/mod.py")
    path.write_bytes(b"")
    with pytest.raises(SourceEmptied):
        registry.reload_if_changed(f"{loaded}.mod", hold_emptied=True)
    assert registry.call(loaded, "mod") == 1  # nothing changed
    path.write_text(plugin(2))
    event = registry.reload_if_changed(f"{loaded}.mod", hold_emptied=True)
    assert event is not None
    assert event.ok
    assert registry.call(loaded, "mod") == 2
    path.write_bytes(b"")  # emptied on purpose, and looked at again: loaded as it is
    event = registry.reload_if_changed(f"{loaded}.mod")
    assert event is not None
    assert event.removed
    assert not registry.exists(loaded, "mod")
