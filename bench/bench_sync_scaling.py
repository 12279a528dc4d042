"""Cold sync time against the number of bundles, per tool; draws bench/plots/sync-scaling.svg.

Workload: bench_sync.py's packages (25 modules each), N of them for N in --counts, built once
and published to a local-directory index.  For each N, interleaved per round, into empty
directories:

- ``dioptra-plugins (local dir)``: ``sync`` from the index directory;
- ``dioptra-plugins (HTTP)``: ``sync`` from the same index served by bench_sync's fair static
  server;
- ``uv pip install --target`` from the index's PEP 503 pages on that server, with an empty
  cache of its own, and the same with ``--compile-bytecode`` (sync compiles bytecode too).

Each point is the median of --rounds runs (CLI wall time including start-up).  Raw numbers go
to bench/results/sync_scaling.json, the plot to bench/plots/sync-scaling.svg.

Run: .venv/bin/python bench/bench_sync_scaling.py [--counts 5 10 20 40 80] [--rounds 3]
"""

from __future__ import annotations

import argparse
import datetime
import os
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import (
    CLI,
    UV,
    http_server,
    timed,
    with_fresh_dirs,
    write_package,
)
from plots import SYNC_SCALING, render, save_results


def build(work: Path, count: int) -> list[Path]:
    from dioptra_plugins.bundle.build import build_bundle

    def one(number: int) -> Path:
        name = f"pkg{number:02d}"
        source = write_package(work / "src" / name, name, "1.0.0")
        return build_bundle(source, work / "wheels", version="1.0.0")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, range(count)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[5, 10, 20, 40, 80])
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish

    counts = sorted(args.counts)
    tools = [
        "dioptra-plugins (local dir)",
        "dioptra-plugins (HTTP)",
        "uv --target",
        "uv --target --compile-bytecode",
    ]
    runs: dict[str, list[list[float]]] = {tool: [] for tool in tools}
    with tempfile.TemporaryDirectory(prefix="bench-sync-scaling-") as temp:
        work = Path(temp)
        wheels = build(work, counts[-1])
        index = work / "index"
        publish(open_storage(str(index)), wheels)
        with http_server(index) as http_url:
            for count in counts:
                requirements = [f"pkg{i:02d}" for i in range(count)]
                for tool in tools:
                    runs[tool].append([])
                for r in range(args.rounds):
                    target = work / f"n{count}-r{r}"
                    ours = ["--plugin-dir", str(target / "ours"), "-q"]
                    ours_http = ["--plugin-dir", str(target / "ours-http"), "-q"]
                    uv = [UV, "pip", "install", "--target", str(target / "uv")]
                    uv_options = ["--cache-dir", "CACHE", "--python", sys.executable]
                    uv_index = ["--index-url", f"{http_url}/simple/", "--quiet"]
                    commands = {
                        tools[0]: [CLI, "sync", *requirements, "--index", str(index), *ours],
                        tools[1]: [CLI, "sync", *requirements, "--index", http_url, *ours_http],
                        tools[2]: [*uv, *uv_options, *uv_index, *requirements],
                    }
                    commands[tools[3]] = [
                        *[
                            str(target / "uvc") if p == str(target / "uv") else p
                            for p in commands[tools[2]]
                        ],
                        "--compile-bytecode",
                    ]
                    order = tools[r % len(tools) :] + tools[: r % len(tools)]
                    for tool in order:
                        elapsed, _ = timed(with_fresh_dirs(commands[tool], work))
                        runs[tool][-1].append(elapsed)
                line = ", ".join(
                    f"{tool} {statistics.median(runs[tool][-1]) * 1000:.0f} ms" for tool in tools
                )
                print(f"{count:>3} bundles: {line}", flush=True)
        # Saved before the work directory is deleted (tens of thousands of files: slow).
        results = {
            "counts": counts,
            "tools": {tool: [statistics.median(r) for r in runs[tool]] for tool in tools},
            "runs": runs,
            "meta": {
                "date": datetime.date.today().isoformat(),
                "rounds": args.rounds,
                # The machine is shared: a loaded one inflates every tool's times.
                "note": f"CLI wall time incl. start-up, median of {args.rounds} interleaved "
                f"rounds; {os.cpu_count()} cores, load average {os.getloadavg()[1]:.1f}",
            },
        }
        print(f"results: {save_results(SYNC_SCALING, results)}", flush=True)
    for path in render():
        print(f"plot: {path}")


if __name__ == "__main__":
    main()
