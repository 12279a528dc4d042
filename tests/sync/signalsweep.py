"""SIGINT and SIGTERM swept over the instants of a real ``dioptra-plugins sync`` (issue 21).

Shared by tests/sync/test_sync_signals.py (a slice) and bench/bench_sigint_sweep.py (the full
sweep).  A trial copies a plugin dir synced to the old set, starts the console script in a
session of its own to upgrade it to the new set (seven bundles to store, so bytecode helper
processes run), sends one signal after a set delay (to the process, or to its whole process
group as a terminal's Ctrl-C does), and then checks everything the issue promises:

- exit code 0 (the sync finished first), 128 + signum, or death by the signal itself when it
  landed before the interpreter reached the console script's first line (no output then);
- a signal inside the interpreter's own start-up (site, reading the console script: before the
  first line of ``cli.entry`` can run) meets Python's defaults, which for SIGINT is a
  KeyboardInterrupt traceback without a frame of ours; such a trial is counted apart
  (``interpreter start-up``) and must still leave exactly the old or the new set;
- stderr holds no traceback, no "Broken pipe", nothing but the one interrupt line;
- that line is true: "nothing changed (still generation N)" with N current and the old set
  installed, or "after switching to generation N" with N current and the new set installed;
- ``dioptra-plugins verify`` passes, the entry links show exactly the current set, none dangles;
- the store holds no entry that no generation links to, and no leftover of interrupted work;
- ``state.json`` names the current generation;
- no helper process of the sync is left (found by a tag in their environment, then killed by
  pid if the check fails: only our own processes).
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from synchelpers import CLI, build, publish_wheels, visible

from dioptra_plugins.plugindir.gc import store_entries_reached
from dioptra_plugins.plugindir.generations import generation_names
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.plugindir.state import read_state
from dioptra_plugins.syncing.engine import sync
from snapshots import installed

OLD = ["p0==1.0.0", "p1==1.0.0", "p2==1.0.0", "p3==1.0.0"]
NEW = ["p0==2.0.0", "p1==2.0.0", "p2==2.0.0", "p4", "p5", "p6", "p7"]
OLD_SET = {f"p{i}": "1.0.0" for i in range(4)}
NEW_SET = {f"p{i}": "2.0.0" for i in (0, 1, 2, 4, 5, 6, 7)}
MODES = [
    (signal.SIGINT, False),
    (signal.SIGINT, True),
    (signal.SIGTERM, False),
    (signal.SIGTERM, True),
]
"""(signal, to the whole process group): trial i uses MODES[i % 4]."""
TAG = "DIOPTRA_SIGNAL_SWEEP_TAG"

_SWITCHED = re.compile(r"interrupted after switching to generation (\d+)")
_UNCHANGED = re.compile(r"interrupted: nothing changed(?: \(still generation (\d+)\))?")


@dataclass
class Sweep:
    """An index of the old and new sets and a plugin dir synced to the old one, to copy."""

    work: Path
    index: str
    template: Path
    duration: float = 0.0
    """Seconds an uninterrupted upgrade takes (console script start to exit)."""


@dataclass
class Trial:
    delay: float
    signum: int
    group: bool
    returncode: int = 0
    outcome: str = ""
    """finished, unchanged, switched, or before-handlers."""
    problems: list[str] = field(default_factory=list)
    stderr: str = ""


def prepare(work: Path) -> Sweep:
    """Build and publish the bundles (30 modules each: compiling takes a while) and the
    template plugin dir; time one uninterrupted upgrade."""
    wheels = [
        build(work, f"p{i}", version, modules=30)
        for i in range(8)
        for version in ("1.0.0", "2.0.0")
    ]
    index = str(work / "index")
    publish_wheels(index, wheels)
    template = work / "template"
    sync(OLD, index=index, plugin_dir=template)
    sweep = Sweep(work, index, template)
    durations = []
    for attempt in range(2):
        plugin_dir = work / f"timing-{attempt}"
        shutil.copytree(template, plugin_dir, symlinks=True)
        started = time.perf_counter()
        done = subprocess.run(_command(sweep, plugin_dir), capture_output=True, text=True)
        durations.append(time.perf_counter() - started)
        assert done.returncode == 0, done.stderr
        shutil.rmtree(plugin_dir)
    sweep.duration = min(durations)
    return sweep


def _command(sweep: Sweep, plugin_dir: Path) -> list[str]:
    return [CLI, "sync", *NEW, "--index", sweep.index, "--plugin-dir", str(plugin_dir)]


def delays(count: int, span: float) -> list[float]:
    """``count`` instants spread evenly over ``span`` seconds, from 0."""
    return [span * i / count for i in range(count)]


def run_trial(sweep: Sweep, number: int, delay: float, *, timeout: float = 60.0) -> Trial:
    signum, group = MODES[number % len(MODES)]
    trial = Trial(delay, signum, group)
    plugin_dir = sweep.work / f"trial-{number}"
    shutil.copytree(sweep.template, plugin_dir, symlinks=True)
    tag = uuid.uuid4().hex
    process = subprocess.Popen(
        _command(sweep, plugin_dir),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        env={**os.environ, TAG: tag},
    )
    time.sleep(delay)
    if process.poll() is None:
        if group:
            os.killpg(process.pid, signum)  # its own session and group: only our processes
        else:
            os.kill(process.pid, signum)
    try:
        _stdout, trial.stderr = process.communicate(timeout=timeout)
    except subprocess.TimeoutExpired:
        process.kill()
        _stdout, trial.stderr = process.communicate()
        trial.problems.append(f"did not exit within {timeout} s of the signal")
    trial.returncode = process.returncode
    _check(trial, plugin_dir)
    _check_helpers(trial, tag)
    if not trial.problems:
        shutil.rmtree(plugin_dir)
    return trial


def _check(trial: Trial, plugin_dir: Path) -> None:
    problems = trial.problems
    layout = PluginDirLayout(plugin_dir)
    current = layout.current_name()
    state = installed(plugin_dir)
    lines = [line for line in trial.stderr.splitlines() if line.strip()]
    for bad in ("Broken pipe", "compiling here"):
        if bad in trial.stderr:
            problems.append(f"stderr shows {bad!r}")
    code = trial.returncode
    if _startup_traceback(trial.stderr):
        trial.outcome = "interpreter start-up"
        if state not in (OLD_SET, NEW_SET):
            problems.append(f"the dir holds {state}")
        _check_dir(trial, plugin_dir, state)
        return
    for bad in ("Traceback", "KeyboardInterrupt"):
        if bad in trial.stderr:
            problems.append(f"stderr shows {bad!r}")
    if code == 0:
        trial.outcome = "finished"
        if lines:
            problems.append(f"a finished sync wrote to stderr: {lines}")
        if state != NEW_SET:
            problems.append(f"exit 0 but the dir holds {state}")
    elif code == -trial.signum and not lines:
        # Killed by the signal's default action before the console script's first line ran
        # (the shell reports 128 + signum); nothing can have changed.
        trial.outcome = "before-handlers"
        if state != OLD_SET or current != "000001":
            problems.append(f"died before its handlers, yet the dir holds {state} ({current})")
    elif code == 128 + trial.signum:
        if len(lines) != 1:
            problems.append(f"expected exactly one line on stderr, got {lines}")
        last = lines[-1] if lines else ""
        if switched := _SWITCHED.fullmatch(last):
            trial.outcome = "switched"
            if current != switched.group(1) or state != NEW_SET:
                problems.append(f"{last!r} but current is {current} holding {state}")
        elif unchanged := _UNCHANGED.fullmatch(last):
            trial.outcome = "unchanged"
            named = unchanged.group(1)
            if current != "000001" or state != OLD_SET or (named and named != current):
                problems.append(f"{last!r} but current is {current} holding {state}")
        else:
            problems.append(f"unexpected last line {last!r}")
    else:
        problems.append(f"exit code {code}")
    _check_dir(trial, plugin_dir, state)


def _startup_traceback(stderr: str) -> bool:
    """A KeyboardInterrupt from the interpreter's start-up: not one frame of our code in it."""
    return (
        "KeyboardInterrupt" in stderr
        and "/dioptra_plugins/" not in stderr
        and "interrupted" not in stderr
    )


def _check_dir(trial: Trial, plugin_dir: Path, state: dict[str, str]) -> None:
    problems = trial.problems
    layout = PluginDirLayout(plugin_dir)
    current = layout.current_name()
    if visible(plugin_dir) != state:
        problems.append(f"entry links show {visible(plugin_dir)}, current holds {state}")
    dangling = [
        e.name for e in os.scandir(plugin_dir) if e.is_symlink() and not Path(e.path).exists()
    ]
    if dangling:
        problems.append(f"dangling entry links {dangling}")
    reached: set[str] = set()
    for name in generation_names(layout):
        reached |= store_entries_reached(layout, name)
    entries = {e.name for e in os.scandir(layout.store)} if layout.store.is_dir() else set()
    if orphans := entries - reached:
        problems.append(f"store entries no generation links to: {sorted(orphans)}")
    leftovers = [
        str(path.relative_to(plugin_dir))
        for path in plugin_dir.rglob(".*")
        if path.name.startswith((".staging-", ".building-", ".tmp-", ".current.tmp-"))
    ]
    if leftovers:
        problems.append(f"leftovers {leftovers}")
    recorded = read_state(layout.state_file).generation
    if recorded != current:
        problems.append(f"state.json names generation {recorded}, current is {current}")
    verified = subprocess.run(
        [CLI, "verify", "--plugin-dir", str(plugin_dir)], capture_output=True, text=True
    )
    if verified.returncode != 0:
        problems.append(f"verify failed: {verified.stdout}{verified.stderr}")


def _tagged(tag: str) -> list[int]:
    """Pids of live processes whose environment carries ``TAG=tag`` (the sync's helpers)."""
    needle = f"{TAG}={tag}".encode()
    found = []
    for entry in os.scandir("/proc"):
        if not entry.name.isdigit():
            continue
        try:
            with open(f"/proc/{entry.name}/environ", "rb") as stream:
                environ = stream.read()
            with open(f"/proc/{entry.name}/stat") as stat:
                state = stat.read().rsplit(")", 1)[1].split()[0]
        except OSError:  # gone between two reads
            continue
        if needle in environ.split(b"\0") and state != "Z":
            found.append(int(entry.name))
    return found


def _check_helpers(trial: Trial, tag: str, patience: float = 5.0) -> None:
    """Helpers exit at EOF of their stdin (or with their parent): give them ``patience``."""
    deadline = time.monotonic() + patience
    while (left := _tagged(tag)) and time.monotonic() < deadline:
        time.sleep(0.05)
    if left:
        trial.problems.append(f"helper processes left: {left}")
        for pid in left:  # ours: they carry this trial's tag
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)


def describe(trial: Trial) -> str:
    how = f"{signal.Signals(trial.signum).name}{' to the group' if trial.group else ''}"
    return (
        f"{how} at {trial.delay * 1000:.0f} ms: exit {trial.returncode} ({trial.outcome}); "
        f"problems {trial.problems}; stderr {trial.stderr!r}"
    )


if __name__ == "__main__":  # pragma: no cover - a quick look: python signalsweep.py WORKDIR N
    sweep = prepare(Path(sys.argv[1]))
    for i, delay in enumerate(delays(int(sys.argv[2]), 1.25 * sweep.duration)):
        print(describe(run_trial(sweep, i, delay)))
