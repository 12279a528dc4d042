"""SIGINT/SIGTERM sweep: a real `dioptra-plugins sync` signalled at 200 spread instants.

The test suite runs 12 of these trials (tests/sync/test_sync_signals.py); this script runs the
same trial (tests/sync/signalsweep.py) at many instants, evenly spread from the process's first
moment to a quarter past the time an uninterrupted upgrade takes: seven bundles of 30 modules
to store (bytecode helper processes compiling), four of them new packages, one package removed.
The signal cycles through SIGINT to the process, SIGINT to its process group (a terminal's
Ctrl-C), SIGTERM to the process and SIGTERM to the group.  After each: exit 0, 130 or 143 (or
death by the signal before the console script's first line), one true line and no traceback
or "Broken pipe" on stderr, ``dioptra-plugins verify`` passes, exactly the old or the new set,
no dangling link, no orphan store entry, no leftover, state.json agrees with ``current``, and
no helper process left.

Run: .venv/bin/python bench/bench_sigint_sweep.py [--instants 200] [--span FACTOR]
"""

from __future__ import annotations

import argparse
import collections
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))  # snapshots, tampering: the suite's shared helpers
sys.path.insert(0, str(ROOT / "tests" / "sync"))

from signalsweep import MODES, delays, describe, prepare, run_trial  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--instants", type=int, default=200)
    parser.add_argument(
        "--span", type=float, default=1.25, help="sweep this many uninterrupted-sync durations"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sigint-") as tmp:
        sweep = prepare(Path(tmp))
        began = time.perf_counter()
        outcomes: collections.Counter[str] = collections.Counter()
        by_mode: dict[str, collections.Counter[str]] = collections.defaultdict(collections.Counter)
        failures = 0
        for number, delay in enumerate(delays(args.instants, args.span * sweep.duration)):
            trial = run_trial(sweep, number, delay)
            outcomes[trial.outcome or "?"] += 1
            signum, group = MODES[number % len(MODES)]
            mode = f"{'SIGINT' if signum == 2 else 'SIGTERM'}{' group' if group else ''}"
            by_mode[mode][trial.outcome or "?"] += 1
            if trial.problems:
                failures += 1
                print(f"trial {number}: FAILED {describe(trial)}", file=sys.stderr)
        elapsed = time.perf_counter() - began
    print(
        f"sigint sweep: {args.instants} instants over {args.span * sweep.duration * 1000:.0f} ms "
        f"(an uninterrupted upgrade: {sweep.duration * 1000:.0f} ms) in {elapsed:.0f} s; "
        f"outcomes {dict(sorted(outcomes.items()))}; failures: {failures}"
    )
    for mode, counts in sorted(by_mode.items()):
        print(f"  {mode}: {dict(sorted(counts.items()))}")
    if failures:
        sys.exit(1)


if __name__ == "__main__":
    main()
