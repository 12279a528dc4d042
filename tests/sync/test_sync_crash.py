"""Crash safety: a sync process killed with SIGKILL at random instants never leaves a mix.

A worker process syncs a plugin dir alternately between two sets of plugin packages and is
killed at a random instant; the sets differ in versions *and* in which packages exist, so
entry links are added and removed too.  After every kill: ``verify`` passes, the current
generation and what an importer sees through the entry links are exactly one of the two sets,
and the next sync completes.  Between trials the store is sometimes emptied of everything the
current generation does not use, so that kills also land in downloads and extraction.

The kill instants come from a fixed seed (``DIOPTRA_CRASH_SEED`` picks another, to explore), so
a failure replays.  Which side of a switch a kill lands on still depends on how fast the machine
is at that moment, so the test does not require that both outcomes occurred (a loaded machine
can slow every sync past every kill instant); it requires, deterministically, that the kill
schedule reaches from the start of a sync to past the end of a cold one, and prints the tally.
"""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from synchelpers import installed, publish_wheels, visible

from dioptra_plugins.plugindir.generations import generation_names
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.plugindir.verify_dir import verify
from dioptra_plugins.syncing.engine import sync

TRIALS = int(os.environ.get("DIOPTRA_CRASH_TRIALS", "200"))
SEED = int(os.environ.get("DIOPTRA_CRASH_SEED", "22"))
WORKER = Path(__file__).with_name("crashworker.py")
SET_A = (["beta"], {"alpha": "1.1.0", "beta": "1.0.0"})
SET_B = (["omega"], {"alpha": "2.0.0", "omega": "1.0.0"})


def spawn(index: str, plugin_dir: Path) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, str(WORKER), index, str(plugin_dir)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )


def kill(worker: subprocess.Popen[str]) -> None:
    if worker.poll() is None:
        os.kill(worker.pid, signal.SIGKILL)
    worker.wait()
    for stream in (worker.stdin, worker.stdout):
        if stream is not None:
            stream.close()


def forget_all_but_current(plugin_dir: Path) -> None:
    """Remove other generations, their store entries and the cache (no process is running)."""
    layout = PluginDirLayout(plugin_dir)
    current = layout.current_name()
    for name in generation_names(layout):
        if name != current:
            shutil.rmtree(layout.generation_path(name))
    used = {
        os.readlink(link).split("/")[3]
        for link in layout.current.resolve().iterdir()
        if link.is_symlink()
    }
    for entry in layout.store.iterdir():
        if entry.name not in used:
            shutil.rmtree(entry)
    shutil.rmtree(layout.cache, ignore_errors=True)


def describe(plugin_dir: Path) -> str:
    lines = []
    for path in sorted(plugin_dir.rglob("*")):
        if "/store/" in str(path) and not path.parent.name.startswith(("store", ".")):
            continue
        target = f" -> {os.readlink(path)}" if path.is_symlink() else ""
        lines.append(f"{path.relative_to(plugin_dir)}{target}")
    return "\n".join(lines)


def leftovers(plugin_dir: Path) -> list[str]:
    """Traces of a writer killed mid-work (staging dirs, half-built generations, temp files)."""
    return [
        str(path)
        for path in plugin_dir.rglob(".*")
        if path.name.startswith((".staging-", ".building-", ".tmp-", ".current.tmp-"))
    ]


def expected_visible(packages: dict[str, str]) -> dict[str, str]:
    return dict(packages)  # top-level package names equal project names here


@pytest.fixture
def crash_index(wheels: dict[str, Path], tmp_path: Path) -> str:
    index = str(tmp_path / "index")
    publish_wheels(
        index,
        [wheels[k] for k in ("alpha-1.1.0", "alpha-2.0.0", "beta-1.0.0", "omega-1.0.0")],
    )
    return index


def test_sigkill_at_random_instants(crash_index: str, tmp_path: Path) -> None:
    seed = SEED
    rng = random.Random(seed)
    # Kill instants as fractions of a cold sync's duration, drawn up front from the seed alone.
    fractions = [rng.uniform(0, 2.5) for _ in range(TRIALS)]
    plugin_dir = tmp_path / "plugins"
    started = time.perf_counter()
    sync(SET_A[0], index=crash_index, plugin_dir=plugin_dir)
    cold = time.perf_counter() - started
    sync(SET_B[0], index=crash_index, plugin_dir=plugin_dir)

    outcomes = {"old set": 0, "new set": 0, "interrupted work": 0}
    worker = spawn(crash_index, plugin_dir)
    try:
        for trial in range(TRIALS):
            assert worker.stdout is not None
            assert worker.stdin is not None
            assert worker.stdout.readline() == "ready\n"
            now = installed(plugin_dir)
            first, second = (SET_B, SET_A) if now == SET_A[1] else (SET_A, SET_B)
            worker.stdin.write(f"go {','.join(first[0])} {','.join(second[0])}\n")
            worker.stdin.flush()
            time.sleep(fractions[trial] * cold)
            kill(worker)
            worker = spawn(crash_index, plugin_dir)  # imports while this trial is checked

            context = f"trial {trial} (seed {seed}): " + describe(plugin_dir)
            state = installed(plugin_dir)
            assert state in (SET_A[1], SET_B[1]), context
            assert visible(plugin_dir) == expected_visible(state), context
            report = verify(plugin_dir)
            assert report.ok, f"{context}: {report.problems}"
            outcomes["old set" if state == now else "new set"] += 1
            outcomes["interrupted work"] += bool(leftovers(plugin_dir))

            # The next sync completes, from whatever state the kill left.
            target = rng.choice((SET_A, SET_B))
            sync(target[0], index=crash_index, plugin_dir=plugin_dir)
            assert installed(plugin_dir) == target[1], context
            assert visible(plugin_dir) == expected_visible(target[1]), context
            if rng.random() < 0.5:
                forget_all_but_current(plugin_dir)
    finally:
        kill(worker)
    assert verify(plugin_dir).ok
    print(f"crash trials: {TRIALS}, seed {seed}, outcomes {outcomes}")
    # The schedule spans a whole sync: some kills come early in one, some after a cold one ends
    # (a property of the seed, not of the machine's speed).
    if TRIALS >= 20:
        assert min(fractions) < 0.25, fractions
        assert max(fractions) > 1.25, fractions
