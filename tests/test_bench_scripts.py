"""The benchmark scripts still run: nothing else in the suite executes them.

They are timed by hand (bench/README.md), so a script broken at import would otherwise only be
found by the next person who needs its numbers (fuzz_readers.py once was: a function had slid
between ``@dataclass`` and its class).  Each script is imported in a fresh interpreter, which
runs its module body but not its ``main()``; the fuzzer, which needs no server and is quick at
a small count, is also run for real.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

BENCH = Path(__file__).resolve().parents[1] / "bench"
SCRIPTS = sorted(path.stem for path in BENCH.glob("*.py"))


def test_the_bench_folder_has_scripts() -> None:
    assert "bench_sync" in SCRIPTS
    assert "fuzz_readers" in SCRIPTS


@pytest.mark.parametrize("script", SCRIPTS)
def test_bench_script_imports(script: str) -> None:
    done = subprocess.run(
        [sys.executable, "-c", f"import sys; sys.path.insert(0, {str(BENCH)!r}); import {script}"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_fuzz_readers_runs_and_finds_only_typed_errors(tmp_path: Path) -> None:
    done = subprocess.run(
        [
            sys.executable,
            str(BENCH / "fuzz_readers.py"),
            "--count",
            "30",
            "--seed",
            "3",
            "--out",
            str(tmp_path / "failures"),
        ],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    table = [
        [cell.strip() for cell in line.strip("|").split("|")]
        for line in done.stdout.splitlines()
        if line.startswith("| ")  # the rows, not the |---| rule
    ]
    assert table[0][:5] == ["reader", "inputs", "accepted", "typed error", "untyped error"]
    readers = table[1:]
    assert len(readers) == 8
    for cells in readers:
        assert cells[1] == "30", cells  # inputs
        assert cells[4] == "0", cells  # untyped errors


# Each script's --quick mode (tiny sizes, nothing saved under bench/) and a line its report
# always prints.  Slow: each builds bundles, and the sync and fleet ones start SeaweedFS.
QUICK = {
    "bench_reload": "dioptra-plugins watch",
    "bench_sync_scaling": "| dioptra-plugins warm worker (HTTP) / uv --target --compile-bytecode",
    "bench_big_bundle": "| sync from HTTP |",
    "bench_fleet": "| cold start at once, 2 bundles each, S3 |",
}


@pytest.mark.slow
@pytest.mark.parametrize("script", sorted(QUICK))
def test_quick_mode_runs(script: str, tmp_path: Path) -> None:
    results = sorted((BENCH / "results").glob("*")) if (BENCH / "results").is_dir() else []
    stamps = [path.stat().st_mtime_ns for path in results]
    done = subprocess.run(
        [sys.executable, str(BENCH / f"{script}.py"), "--quick"],
        capture_output=True,
        text=True,
        timeout=280,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert QUICK[script] in done.stdout, done.stdout[-3000:]
    assert [path.stat().st_mtime_ns for path in results] == stamps  # quick results not saved
