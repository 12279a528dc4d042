"""What compiling bytecode at install costs a cold sync, and what it saves the first import.

Sync compiles every module of a bundle to a checked-hash pyc in the staging directory (issue 9:
the interpreter then never writes into the store, and ``verify`` checks the pycs).  This
measures, interleaved per round, on the sync benchmark's workload (40 bundles x 25 modules)
from a local directory index:

- cold sync in-process with compilation, and with ``compile_entry`` replaced by a no-op (what
  sync cost before);
- the first import of all 40 packages in a fresh interpreter afterwards (bytecode writing on):
  with the pycs sync wrote, and without any (the interpreter compiles, and would write into the
  store).

Run: .venv/bin/python bench/bench_bytecode.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import MODULES, PACKAGES, write_package

IMPORT_ALL = (
    "import importlib, sys\n"
    f"for i in range({PACKAGES}):\n"
    f"    for m in range({MODULES - 1}):\n"
    "        importlib.import_module(f'pkg{i:02d}.mod{m:02d}')\n"
)


def build(work: Path) -> list[Path]:
    from dioptra_plugins.bundle.build import build_bundle

    def one(i: int) -> Path:
        source = write_package(work / "src" / f"pkg{i:02d}", f"pkg{i:02d}", "1.0.0")
        return build_bundle(source, work / "wheels", version="1.0.0")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, range(PACKAGES)))


def cold_sync(index: str, plugin_dir: Path, compile_bytecode: bool) -> float:
    from dioptra_plugins import sync
    from dioptra_plugins.index.connections import shared_connections
    from dioptra_plugins.syncing import bytecode

    original = bytecode.compile_entry
    original_method = bytecode.BytecodeCompiler.compile_entry
    if not compile_bytecode:

        def no_compile(staging: Path, final: Path, sources: list[str]) -> bytecode.BytecodeManifest:
            return bytecode.BytecodeManifest(cache_tag=None, files={})

        # Both ways sync compiles: here, and through the helper processes' compiler.
        bytecode.compile_entry = no_compile  # type: ignore[assignment]
        bytecode.BytecodeCompiler.compile_entry = (  # type: ignore[method-assign]
            lambda self, staging, final, sources: no_compile(staging, final, sources)
        )
    shared_connections().close()
    try:
        started = time.perf_counter()
        sync([f"pkg{i:02d}" for i in range(PACKAGES)], index=index, plugin_dir=plugin_dir)
        return time.perf_counter() - started
    finally:
        bytecode.compile_entry = original
        bytecode.BytecodeCompiler.compile_entry = original_method  # type: ignore[method-assign]


def first_import(plugin_dir: Path) -> float:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
    env["PYTHONPATH"] = str(plugin_dir)
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", IMPORT_ALL], env=env, check=True)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish

    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        index = str(work / "index")
        publish(open_storage(index), build(work))
        times: dict[str, list[float]] = {k: [] for k in ("with", "without", "imp-pyc", "imp-src")}
        for round_number in range(args.rounds):
            order = [True, False] if round_number % 2 == 0 else [False, True]
            for compile_bytecode in order:
                plugin_dir = work / f"plugins-{round_number}-{compile_bytecode}"
                key = "with" if compile_bytecode else "without"
                times[key].append(cold_sync(index, plugin_dir, compile_bytecode))
                # The first import: from the synced pycs, or compiling every module itself.
                times["imp-pyc" if compile_bytecode else "imp-src"].append(first_import(plugin_dir))
                shutil.rmtree(plugin_dir)
        med = {k: statistics.median(v) * 1000 for k, v in times.items()}
        files = PACKAGES * MODULES
        extra = med["with"] - med["without"]
        print(
            f"| cold sync, {PACKAGES} bundles x {MODULES} files, local index | "
            f"{med['with']:.0f} ms with bytecode | {med['without']:.0f} ms without | "
            f"+{extra:.0f} ms ({extra / med['without'] * 100:.0f}%, "
            f"{extra / files:.2f} ms a module) |"
        )
        print(
            f"| first import of all {PACKAGES * (MODULES - 1)} modules after the sync | "
            f"{med['imp-pyc']:.0f} ms from synced pycs | {med['imp-src']:.0f} ms compiling "
            f"(and writing into the store) | saves {med['imp-src'] - med['imp-pyc']:.0f} ms "
            "per fresh process on a read-only or PYTHONDONTWRITEBYTECODE worker |"
        )
        print("rounds:", {k: [round(x * 1000) for x in v] for k, v in times.items()})


if __name__ == "__main__":
    main()
