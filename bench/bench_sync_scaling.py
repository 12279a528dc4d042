"""Cold sync time and CPU against the number of bundles, per tool (issue 26's scale target).

Workload: bench_sync.py's packages (25 files each), N of them for N in --counts (default 40,
100, 200 and 400: up to 10,000 files), built once and published to a local-directory index,
which a fair static server (bench/fairserver.py) serves over HTTP, and to a bucket of a
loopback SeaweedFS.  For each N, interleaved per round, into empty directories:

- ``dioptra-plugins CLI (S3)`` / ``(HTTP)``: a fresh ``dioptra-plugins sync`` process;
- ``dioptra-plugins warm worker (S3)`` / ``(HTTP)``: a long-lived process that synced once before
  (imports, client and helpers warm) calling ``dioptra_plugins.sync()``; only that call is timed;
- ``uv --target`` and ``uv --target --compile-bytecode``: ``uv pip install --target`` from the
  index's PEP 503 pages on the same HTTP server, each run with an empty cache of its own (uv does
  not read S3; sync compiles bytecode at install, so the second is the like-for-like one).

Each run's wall time and CPU seconds (user + system, every descendant included: this process
adopts orphaned bytecode helpers, see processes.py) are recorded, and CPU seconds per file.
Targets at 400 bundles: the fresh CLI within 1.0x uv --compile-bytecode, the warm worker
within 0.8x.  Raw numbers go to bench/results/sync_scaling.json, the plot (time against bundle
count) to bench/plots/sync-scaling.svg.

Run: .venv/bin/python bench/bench_sync_scaling.py [--counts 40 100 200 400] [--rounds 1]
     [--sources s3 http]     (--quick: 2 and 4 bundles, a smoke run; nothing saved)
"""

from __future__ import annotations

import argparse
import contextlib
import datetime
import json
import os
import resource
import statistics
import sys
import tempfile
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import CLI, MODULES, UV, http_server, with_fresh_dirs, write_package
from plots import SYNC_SCALING, plot_sync_scaling, render, save_results
from processes import become_subreaper, run_measured

# A worker that synced before: imports done, the index client made, one earlier sync (lazy
# imports, regexes, helper start-up) done; it waits for that sync's helpers to be reaped, then
# prints the wall and CPU seconds (its own and its children's) of the timed sync() alone.
WARM_WORKER = """
import os, resource, sys, time
from dioptra_plugins import sync
from dioptra_plugins.index.connections import shared_connections
index, scratch, warm_up, plugin_dir, *requirements = sys.argv[1:]

def settle():
    me = str(os.getpid())
    def children():
        found = []
        for entry in os.listdir("/proc"):
            try:
                with open(f"/proc/{entry}/stat") as stat:
                    if stat.read().rpartition(")")[2].split()[1] == me:
                        found.append(entry)
            except (OSError, IndexError):
                pass
        return found
    deadline = time.monotonic() + 60
    while children() and time.monotonic() < deadline:
        time.sleep(0.01)

def cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    kids = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + kids.ru_utime + kids.ru_stime

shared_connections().open(index).get("index.json")
sync([warm_up], index=index, plugin_dir=scratch)
settle()
cpu_before, started = cpu(), time.perf_counter()
sync(requirements, index=index, plugin_dir=plugin_dir)
wall = time.perf_counter() - started
settle()
print(wall, cpu() - cpu_before)
"""

CLI_S3, CLI_HTTP = "dioptra-plugins CLI (S3)", "dioptra-plugins CLI (HTTP)"
WARM_S3, WARM_HTTP = "dioptra-plugins warm worker (S3)", "dioptra-plugins warm worker (HTTP)"
UV_PLAIN, UV_COMPILE = "uv --target", "uv --target --compile-bytecode"


def build(work: Path, count: int) -> list[Path]:
    from dioptra_plugins.bundle.build import build_bundle

    def one(number: int) -> Path:
        name = f"pkg{number:03d}"
        source = write_package(work / "src" / name, name, "1.0.0")
        return build_bundle(source, work / "wheels", version="1.0.0")

    with ThreadPoolExecutor(max_workers=2) as pool:
        return list(pool.map(one, range(count)))


Command = Callable[[list[str], Path], list[str]]


def tool_commands(http_url: str, s3_index: str | None) -> dict[str, Command]:
    """Each tool's command line, given the requirements and a fresh target directory."""

    def cli(index: str) -> Command:
        return lambda reqs, target: [
            CLI, "sync", *reqs, "--index", index, "--plugin-dir", str(target), "-q"
        ]  # fmt: skip

    def warm(index: str) -> Command:
        return lambda reqs, target: [
            sys.executable, "-c", WARM_WORKER, index, "SCRATCH", reqs[0], str(target), *reqs
        ]  # fmt: skip

    def uv(*extra: str) -> Command:
        return lambda reqs, target: [
            UV, "pip", "install", "--target", str(target), "--cache-dir", "CACHE",
            "--python", sys.executable, "--index-url", f"{http_url}/simple/", "--quiet",
            *extra, *reqs,
        ]  # fmt: skip

    tools: dict[str, Command] = {}
    if s3_index is not None:
        tools[CLI_S3] = cli(s3_index)
    tools[CLI_HTTP] = cli(http_url)
    if s3_index is not None:
        tools[WARM_S3] = warm(s3_index)
    tools[WARM_HTTP] = warm(http_url)
    tools[UV_PLAIN] = uv()
    tools[UV_COMPILE] = uv("--compile-bytecode")
    return tools


def run_counts(
    work: Path, tools: dict[str, Command], counts: list[int], rounds: int, keep: list[int]
) -> dict[str, Any]:
    """Every tool at every count, rounds interleaved (the order rotates each round)."""
    names = list(tools)
    wall: dict[str, list[list[float]]] = {tool: [] for tool in names}
    cpu: dict[str, list[list[float]]] = {tool: [] for tool in names}
    served: dict[str, list[list[float]]] = {tool: [] for tool in names}
    for count in counts:
        requirements = [f"pkg{i:03d}" for i in range(count)]
        for tool in names:
            wall[tool].append([])
            cpu[tool].append([])
            served[tool].append([])
        for r in range(rounds):
            for number, tool in enumerate(names[r % len(names) :] + names[: r % len(names)]):
                target = work / f"n{count}-r{r}-t{number}"
                command = with_fresh_dirs(tools[tool](requirements, target), work)
                server_before = server_cpu(keep)
                measured = run_measured(command, keep=keep)
                served[tool][-1].append(server_cpu(keep) - server_before)
                if tool in (WARM_S3, WARM_HTTP):
                    seconds, cpu_seconds = map(float, measured.stdout.split()[-2:])
                else:
                    seconds, cpu_seconds = measured.wall, measured.cpu
                wall[tool][-1].append(seconds)
                cpu[tool][-1].append(cpu_seconds)
        line = ", ".join(f"{tool} {statistics.median(wall[tool][-1]):.2f} s" for tool in names)
        print(f"{count:>3} bundles ({count * MODULES} files): {line}", flush=True)
    return {"wall": wall, "cpu": cpu, "server_cpu": served}


def server_cpu(pids: list[int]) -> float:
    """CPU seconds the index servers used so far: the fair HTTP server's threads run in this
    process (which otherwise only waits for the tool), SeaweedFS in its own."""
    own = resource.getrusage(resource.RUSAGE_SELF)
    total = own.ru_utime + own.ru_stime
    ticks = os.sysconf("SC_CLK_TCK")
    for pid in pids:
        with contextlib.suppress(OSError), open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rpartition(")")[2].split()
            total += (int(fields[11]) + int(fields[12])) / ticks
    return total


def summarise(counts: list[int], runs: dict[str, Any], rounds: int) -> dict[str, Any]:
    """The plot's format (plots.plot_sync_scaling) plus CPU, CPU per file and target ratios."""
    wall, cpu = runs["wall"], runs["cpu"]
    medians = {tool: [statistics.median(r) for r in per] for tool, per in wall.items()}
    cpu_medians = {tool: [statistics.median(r) for r in per] for tool, per in cpu.items()}
    served = {tool: [statistics.median(r) for r in per] for tool, per in runs["server_cpu"].items()}
    cores = len(os.sched_getaffinity(0))
    # The least wall time the tool's CPU and its server's could take on these cores together.
    floors = {
        tool: [(c + s) / cores for c, s in zip(cpu_medians[tool], served[tool], strict=True)]
        for tool in cpu_medians
    }
    files = [count * MODULES for count in counts]
    ratios: dict[str, list[float]] = {}
    for ours in (CLI_S3, CLI_HTTP, WARM_S3, WARM_HTTP):
        if ours in medians:
            base = medians[UV_COMPILE]
            ratios[f"{ours} / {UV_COMPILE}"] = [
                a / b for a, b in zip(medians[ours], base, strict=True)
            ]
    return {
        "counts": counts,
        "files": files,
        "tools": medians,
        "runs": wall,
        "cpu_seconds": cpu_medians,
        "cpu_runs": cpu,
        "server_cpu_seconds": served,
        "cpu_floor_seconds": floors,
        "cpu_ms_per_file": {
            tool: [c / n * 1000 for c, n in zip(values, files, strict=True)]
            for tool, values in cpu_medians.items()
        },
        "ratios": ratios,
        "meta": {
            "date": datetime.date.today().isoformat(),
            "rounds": rounds,
            # The machine is shared: a loaded one inflates every tool's times.
            "note": f"cold sync, median of {rounds} interleaved round(s); warm worker: sync() "
            f"call alone; {os.cpu_count()} cores, load average {os.getloadavg()[1]:.1f}",
        },
    }


def print_table(results: dict[str, Any]) -> None:
    counts = results["counts"]
    print("| tool | " + " | ".join(f"{n} bundles" for n in counts) + " |")
    print("|---" * (len(counts) + 1) + "|")
    for tool, medians in results["tools"].items():
        per_file = results["cpu_ms_per_file"][tool]
        cells = [
            f"{s:.2f} s, CPU {c:.1f} s ({f:.2f} ms/file)"
            for s, c, f in zip(medians, results["cpu_seconds"][tool], per_file, strict=True)
        ]
        print(f"| {tool} | " + " | ".join(cells) + " |")
    for label, values in results["ratios"].items():
        print(f"| {label} | " + " | ".join(f"{v:.2f}x" for v in values) + " |")
    print("\nserver CPU and the CPU floor ((tool + server CPU) / cores) per tool:")
    for tool, floors in results.get("cpu_floor_seconds", {}).items():
        served = results["server_cpu_seconds"][tool]
        cells = [f"server {s:.2f} s, floor {f:.2f} s" for s, f in zip(served, floors, strict=True)]
        print(f"| {tool} | " + " | ".join(cells) + " |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[40, 100, 200, 400])
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--sources", nargs="+", choices=["s3", "http"], default=["s3", "http"])
    parser.add_argument("--quick", action="store_true", help="2 and 4 bundles; nothing saved")
    args = parser.parse_args()
    counts = [2, 4] if args.quick else sorted(args.counts)
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    become_subreaper()
    with tempfile.TemporaryDirectory(prefix="bench-sync-scaling-") as temp:
        work = Path(temp)
        results = measure(work, counts, args.rounds, "s3" in args.sources)
        print_table(results)
        if args.quick:  # the plot is drawn, into the work dir, to prove it can be
            (work / "sync_scaling.json").write_text(json.dumps(results))
            print(f"plot: {plot_sync_scaling(results, work / 'sync-scaling.svg')} (discarded)")
            return
        # Saved before the work directory is deleted (tens of thousands of files: slow).
        print(f"results: {save_results(SYNC_SCALING, results)}", flush=True)
    for path in render():
        print(f"plot: {path}")


def measure(work: Path, counts: list[int], rounds: int, with_s3: bool) -> dict[str, Any]:
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish

    wheels = build(work, counts[-1])
    index = work / "index"
    publish(open_storage(str(index)), wheels)
    with contextlib.ExitStack() as stack:
        http_url = stack.enter_context(http_server(index))
        s3_index, keep = None, []
        if with_s3:
            from seaweed import seaweedfs_bucket

            s3_index, server = seaweedfs_bucket(stack, work, "scale")
            keep = [pid for pid in [server.pid] if pid is not None]
            publish(open_storage(s3_index), wheels)
        runs = run_counts(work, tool_commands(http_url, s3_index), counts, rounds, keep)
    return summarise(counts, runs, rounds)


if __name__ == "__main__":
    main()
