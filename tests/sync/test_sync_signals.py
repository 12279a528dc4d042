"""SIGINT and SIGTERM at any instant of a sync end in one true line, exit 130/143, and a plugin
dir that is exactly the old or the new set (issue 21, item 6).

The sweep runs the real console script (tests/sync/signalsweep.py says what each trial checks);
bench/bench_sigint_sweep.py runs 200 instants of it.  The other tests drive the pieces with real
signals (``signal.raise_signal``) in this process: the critical section holds a signal until
the switch and its bookkeeping are done, and a switch that fails leaves no link behind.
"""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from signalsweep import delays, describe, prepare, run_trial
from synchelpers import CLI, installed, publish_wheels, visible

from dioptra_plugins import sync
from dioptra_plugins.errors import SyncError
from dioptra_plugins.fsutil import flush_filesystem as real_flush
from dioptra_plugins.plugindir import generations
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.plugindir.state import read_state
from dioptra_plugins.plugindir.verify_dir import verify
from dioptra_plugins.plugindir.writer_lock import writer_lock
from dioptra_plugins.signals import deferred

INSTANTS = int(os.environ.get("DIOPTRA_SIGNAL_INSTANTS", "12"))


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(
        url, [wheels[k] for k in ("alpha-1.1.0", "alpha-2.0.0", "beta-1.0.0", "omega-1.0.0")]
    )
    return url


@pytest.fixture
def sigint_raises() -> Iterator[None]:
    """Python's own SIGINT handler (KeyboardInterrupt), whatever the runner installed."""
    previous = signal.signal(signal.SIGINT, signal.default_int_handler)
    yield
    signal.signal(signal.SIGINT, previous)


@pytest.mark.timeout(900)
def test_signals_swept_over_a_real_sync(tmp_path: Path) -> None:
    sweep = prepare(tmp_path)
    # From the process's first instant to a little after an uninterrupted sync would end.
    trials = [
        run_trial(sweep, number, delay, timeout=120)
        for number, delay in enumerate(delays(INSTANTS, 1.25 * sweep.duration))
    ]
    failed = [describe(t) for t in trials if t.problems]
    assert not failed, "\n".join(failed)
    outcomes = {t.outcome for t in trials}
    # The sweep reached the sync's work, not only its start-up or its end.
    assert outcomes & {"unchanged", "switched"}, [describe(t) for t in trials]


def test_a_signal_in_a_critical_section_waits_for_its_end(sigint_raises: None) -> None:
    done = []

    def section() -> None:
        with deferred():
            signal.raise_signal(signal.SIGINT)
            done.append("rest of the section")

    with pytest.raises(KeyboardInterrupt):
        section()
    assert done == ["rest of the section"]
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler


def test_nested_sections_deliver_once_at_the_outer_end(sigint_raises: None) -> None:
    order = []

    def sections() -> None:
        with deferred():
            with deferred():
                signal.raise_signal(signal.SIGINT)
                signal.raise_signal(signal.SIGINT)
            order.append("inner ended, still held")

    with pytest.raises(KeyboardInterrupt):
        sections()
    assert order == ["inner ended, still held"]


def test_a_signal_during_the_switch_lands_after_the_bookkeeping(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, sigint_raises: None
) -> None:
    """Ctrl-C while the switch flushes: without the critical section the KeyboardInterrupt cut
    the switch after its new entry links (dangling) or after the rename (state.json not
    written, the CLI said "interrupted" as if nothing had happened)."""
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)

    def flush_then_ctrl_c(path: Path) -> None:
        signal.raise_signal(signal.SIGINT)
        real_flush(path)

    monkeypatch.setattr(generations, "flush_filesystem", flush_then_ctrl_c)
    with pytest.raises(KeyboardInterrupt):
        sync(["omega"], index=index, plugin_dir=plugin_dir)
    layout = PluginDirLayout(plugin_dir)
    assert installed(plugin_dir) == {"alpha": "2.0.0", "omega": "1.0.0"}
    assert visible(plugin_dir) == {"alpha": "2.0.0", "omega": "1.0.0"}
    assert read_state(layout.state_file).generation == layout.current_name() == "000002"
    assert verify(plugin_dir).ok


def test_a_failed_switch_leaves_no_dangling_entry_link(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)

    def failing_flush(path: Path) -> None:
        raise OSError(5, "Input/output error")

    monkeypatch.setattr(generations, "flush_filesystem", failing_flush)
    with pytest.raises(SyncError):
        sync(["omega"], index=index, plugin_dir=plugin_dir)
    links = {e.name for e in os.scandir(plugin_dir) if e.is_symlink()}
    assert links == {"alpha", "beta"}  # omega's link, made for the switch, is gone again
    assert installed(plugin_dir) == {"alpha": "1.1.0", "beta": "1.0.0"}
    assert verify(plugin_dir).ok


def test_links_a_killed_switch_left_dangling_are_removed_by_the_next_sync(
    index: str, tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    # What a SIGKILL between a switch's first step and its rename leaves.
    os.symlink(PluginDirLayout.entry_link("omega"), plugin_dir / "omega")
    sync(["beta", "alpha<2"], index=index, plugin_dir=plugin_dir)
    assert not (plugin_dir / "omega").is_symlink()
    assert verify(plugin_dir).ok


def test_an_interrupted_wait_for_the_lock_says_nothing_changed(index: str, tmp_path: Path) -> None:
    """SIGTERM while the sync waits for another writer: exit 143, one true line, no traceback."""
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    layout = PluginDirLayout(plugin_dir)
    with writer_lock(layout.lock_file, 30):
        process = subprocess.Popen(
            [CLI, "sync", "-q", "omega", "--index", index, "--plugin-dir", str(plugin_dir)],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and not _waits_for_lock(process.pid):
            time.sleep(0.02)
        process.send_signal(signal.SIGTERM)
        _out, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert err == "interrupted: nothing changed (still generation 000001)\n"
    assert installed(plugin_dir) == {"alpha": "1.1.0", "beta": "1.0.0"}


def _waits_for_lock(pid: int) -> bool:
    """True once the process has opened the plugin dir's lock file (so sync() has begun)."""
    try:
        return any(
            os.readlink(f"/proc/{pid}/fd/{fd}").endswith("/.dioptra-plugins/lock")
            for fd in os.listdir(f"/proc/{pid}/fd")
        )
    except OSError:
        return False


def test_no_download_starts_after_the_signal(
    tmp_path: Path, sigint_raises: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Seen on main: a Ctrl-C during the downloads, and the sync went on to 40/40 before it
    stopped (the thread pool's exit waited for every queued bundle)."""
    from synchelpers import build

    from dioptra_plugins.syncing.install import store_entries

    names = [f"many{i}" for i in range(8)]
    index = str(tmp_path / "index")
    publish_wheels(index, [build(tmp_path, name, "1.0.0", modules=1) for name in names])
    plugin_dir = tmp_path / "plugins"
    stored_counts: list[int] = []

    def stored(done: int, total: int) -> None:  # runs in a download thread
        stored_counts.append(done)
        if done == 1:
            os.kill(os.getpid(), signal.SIGINT)  # as kill(1) does; the main thread raises

    with pytest.raises(KeyboardInterrupt):
        sync(names, index=index, plugin_dir=plugin_dir, jobs=2, stored=stored)
    # At most the bundles already being stored when the signal came (two threads) finish.
    assert max(stored_counts) <= 3, stored_counts
    assert store_entries(PluginDirLayout(plugin_dir)) == set()  # and they are removed again
    assert installed(plugin_dir) == {}
