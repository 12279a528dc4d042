"""Kill stress: 1,000 SIGKILLs of a syncing process at random instants (issue 4).

The test suite runs 200 of these trials (tests/sync/test_sync_crash.py); this script runs the
same trial many more times and reports how kills landed.  A worker process syncs a plugin dir
alternately between two sets of plugin packages (different versions and different packages)
from a local-folder index and is killed at a random instant; after each kill ``verify`` must
pass, the dir must hold exactly one of the two sets (generation and entry links agree), and the
next sync must complete and leave no dangling entry link (a kill inside a switch may leave
some; the next writer removes them).  Half of the time the store is then emptied of everything
the current generation does not use, so that kills also land in downloads and extraction.

Run: .venv/bin/python bench/bench_kill_stress.py [--trials 1000] [--seed N]
"""

from __future__ import annotations

import argparse
import os
import random
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # snapshots, tampering: the suite's shared helpers
sys.path.insert(0, str(ROOT / "tests" / "sync"))

from synchelpers import build, installed, publish_wheels, visible  # noqa: E402
from test_sync_crash import (  # noqa: E402
    SET_A,
    SET_B,
    forget_all_but_current,
    kill,
    leftovers,
    spawn,
)

from dioptra_plugins.plugindir.verify_dir import verify  # noqa: E402
from dioptra_plugins.syncing.engine import sync  # noqa: E402


def dangling(plugin_dir: Path) -> list[str]:
    """Top-level links that lead nowhere."""
    return [e.name for e in os.scandir(plugin_dir) if e.is_symlink() and not Path(e.path).exists()]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=1000)
    parser.add_argument("--seed", type=int, default=time.time_ns() % 10**9)
    args = parser.parse_args()
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="bench-kill-") as tmp:
        work = Path(tmp)
        wheels = [
            build(work, "alpha", "1.1.0"),
            build(work, "alpha", "2.0.0"),
            build(work, "beta", "1.0.0", requires=["alpha>=1,<2"]),
            build(work, "omega", "1.0.0", requires=["alpha>=2"]),
        ]
        index = str(work / "index")
        publish_wheels(index, wheels)
        plugin_dir = work / "plugins"
        started = time.perf_counter()
        sync(SET_A[0], index=index, plugin_dir=plugin_dir)
        cold = time.perf_counter() - started
        sync(SET_B[0], index=index, plugin_dir=plugin_dir)

        counts = {
            "old set": 0,
            "new set": 0,
            "interrupted work": 0,
            "dangling links": 0,
            "failures": 0,
        }
        began = time.perf_counter()
        worker = spawn(index, plugin_dir)
        try:
            for trial in range(args.trials):
                assert worker.stdout is not None
                assert worker.stdin is not None
                assert worker.stdout.readline() == "ready\n"
                before = installed(plugin_dir)
                first, second = (SET_B, SET_A) if before == SET_A[1] else (SET_A, SET_B)
                worker.stdin.write(f"go {','.join(first[0])} {','.join(second[0])}\n")
                worker.stdin.flush()
                time.sleep(rng.uniform(0, 2.5 * cold))
                kill(worker)
                worker = spawn(index, plugin_dir)
                state = installed(plugin_dir)
                report = verify(plugin_dir)
                good = state in (SET_A[1], SET_B[1]) and visible(plugin_dir) == state and report.ok
                if not good:
                    counts["failures"] += 1
                    print(f"trial {trial}: FAILED {state} {report.problems}", file=sys.stderr)
                counts["old set" if state == before else "new set"] += 1
                counts["interrupted work"] += bool(leftovers(plugin_dir))
                counts["dangling links"] += bool(dangling(plugin_dir))
                target = rng.choice((SET_A, SET_B))
                sync(target[0], index=index, plugin_dir=plugin_dir)
                if installed(plugin_dir) != target[1] or dangling(plugin_dir):
                    counts["failures"] += 1
                    print(f"trial {trial}: next sync left {dangling(plugin_dir)}", file=sys.stderr)
                if rng.random() < 0.5:
                    forget_all_but_current(plugin_dir)
        finally:
            kill(worker)
        elapsed = time.perf_counter() - began
    print(
        f"kill stress: {args.trials} trials in {elapsed:.0f} s (seed {args.seed}); "
        f"cold sync {cold * 1000:.0f} ms; kills left the old set {counts['old set']} times, "
        f"the new set {counts['new set']} times; interrupted work visible after "
        f"{counts['interrupted work']} kills, dangling entry links after "
        f"{counts['dangling links']} (removed by the next sync); failures: {counts['failures']}"
    )
    if counts["failures"]:
        sys.exit(1)


if __name__ == "__main__":
    main()
