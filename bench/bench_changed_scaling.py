"""A one-bundle change against the number of bundles installed (issue 26: the changed sync must
not grow with the installed set).

Workload: bench_sync.py's packages (25 modules each), the largest of --counts of them built
once and published to a local-directory index.  For each count N a plugin dir (and a uv
``--target`` dir) is synced to pkg000..pkg<N-1>; then each round publishes a new version of
pkg000 and times, per N, interleaved:

- ``cli``: ``python -m dioptra_plugins sync`` from the index directory (start-up included);
- ``warm``: ``sync()`` in a worker that synced once before (imports done), as bench_sync's;
- ``worker``: ``sync()`` in a worker that resolved the same requirements from the same index
  (a dry run, before the change was published) with the IndexConnections it holds, as
  ``dioptra-plugins-run`` and ``sync --every`` do sync after sync.  That dry run is a no-op
  (one conditional GET: the dir is synced to these requirements), so it reads no project
  document: the change is the worker's first sync to read them, from the plugin dir's cache;
- ``uv``: ``uv pip install --target --upgrade-package pkg000`` from the index's PEP 503 pages
  served over loopback HTTP, with its cache kept from its first install.

``--source DIR`` runs ours from another checkout's ``src`` (the before of a before/after); the
index is built and published with this one's.  Medians of --rounds; ratios are 400 against 40
and ours against uv.

Run: .venv/bin/python bench/bench_changed_scaling.py [--counts 40 400] [--rounds 5]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from subprocess import PIPE, Popen

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import UV, http_server, timed, write_package

WARM_WORKER = """
import sys, time
from dioptra_plugins import sync
import dioptra_plugins.bundle.extract, dioptra_plugins.syncing.choose
import dioptra_plugins.syncing.install, dioptra_plugins.syncing.changes
import dioptra_plugins.bundle.extract, dioptra_plugins.syncing.choose
import dioptra_plugins.syncing.install, dioptra_plugins.syncing.changes
index, scratch, plugin_dir, *requirements = sys.argv[1:]
sync([requirements[-1]], index=index, plugin_dir=scratch)  # imports, regexes: a warm worker
started = time.perf_counter()
sync(requirements, index=index, plugin_dir=plugin_dir)
print(time.perf_counter() - started)
"""

WORKER = """
import sys, time
from dioptra_plugins import sync
import dioptra_plugins.bundle.extract, dioptra_plugins.syncing.choose
import dioptra_plugins.syncing.install, dioptra_plugins.syncing.changes
try:
    from dioptra_plugins.index.connections import IndexConnections
    held = {"connections": IndexConnections()}
except ImportError:  # a checkout from before IndexConnections: its process-wide cache
    held = {}
index, plugin_dir, *requirements = sys.argv[1:]
sync(requirements, index=index, plugin_dir=plugin_dir, dry_run=True, **held)
print("ready", flush=True)
sys.stdin.readline()  # the change is published
started = time.perf_counter()
sync(requirements, index=index, plugin_dir=plugin_dir, **held)
print(time.perf_counter() - started, flush=True)
"""


def build(work: Path, count: int, rounds: int) -> tuple[list[Path], list[Path]]:
    """The ``count`` bundles at 1.0.0, and pkg000's new version for each round."""
    from dioptra_plugins.bundle.build import build_bundle

    jobs = [(f"pkg{i:03d}", "1.0.0") for i in range(count)]
    jobs += [("pkg000", f"1.0.{r + 1}") for r in range(rounds)]

    def one(job: tuple[str, str]) -> Path:
        name, version = job
        source = write_package(work / "src" / f"{name}-{version}", name, version)
        return build_bundle(source, work / "wheels", version=version)

    with ThreadPoolExecutor(max_workers=2) as pool:
        wheels = list(pool.map(one, jobs))
    return wheels[:count], wheels[count:]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--counts", type=int, nargs="+", default=[40, 400])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--source", type=Path, help="run ours from this src directory")
    args = parser.parse_args()
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish

    env = dict(os.environ)
    if args.source is not None:
        env["PYTHONPATH"] = str(args.source.resolve())
    counts = sorted(args.counts)
    times: dict[tuple[str, int], list[float]] = {}
    with tempfile.TemporaryDirectory(prefix="bench-changed-scaling-") as temp:
        work = Path(temp)
        wheels, changed = build(work, counts[-1], args.rounds)
        index = work / "index"
        publish(open_storage(str(index)), wheels)
        ours = [sys.executable, "-m", "dioptra_plugins", "sync", "--index", str(index)]
        with http_server(index) as http_url:
            uv = [UV, "pip", "install", "--python", sys.executable, "--quiet"]
            uv += ["--index-url", f"{http_url}/simple/"]

            def commands(count: int) -> dict[str, list[str]]:
                requirements = [f"pkg{i:03d}" for i in range(count)]
                dirs = {name: str(work / f"{name}-{count}") for name in ("cli", "warm", "uv")}
                scratch = str(work / f"scratch-{count}")
                return {
                    "cli": [*ours, "--plugin-dir", dirs["cli"], *requirements],
                    "warm": [
                        sys.executable,
                        "-c",
                        WARM_WORKER,
                        str(index),
                        scratch,
                        dirs["warm"],
                        *requirements,
                    ],
                    "uv": [
                        *uv,
                        "--target",
                        dirs["uv"],
                        "--cache-dir",
                        str(work / f"uv-cache-{count}"),
                        "--upgrade-package",
                        "pkg000",
                        *requirements,
                    ],
                }

            for count in counts:  # the installed set, before any change
                for command in commands(count).values():
                    timed(command, env)
                worker_dir = str(work / f"worker-{count}")
                installed = [f"pkg{i:03d}" for i in range(count)]
                timed([*ours, "--plugin-dir", worker_dir, *installed], env)
            for r in range(args.rounds):
                workers = {
                    count: started_worker(index, work / f"worker-{count}", count, env)
                    for count in counts
                }
                publish(open_storage(str(index)), [changed[r]])
                for count, worker in workers.items():
                    times.setdefault(("worker", count), []).append(finished_worker(worker))
                for count in counts:
                    for tool, command in commands(count).items():
                        # The scratch dir of a warm worker is synced anew each time.
                        elapsed, stdout = timed(command, env)
                        value = float(stdout.split()[-1]) if tool == "warm" else elapsed
                        times.setdefault((tool, count), []).append(value)
    report(times, counts)


def started_worker(index: Path, plugin_dir: Path, count: int, env: dict[str, str]) -> Popen[str]:
    """A worker process that has resolved pkg000..pkg<count-1> and waits for the change."""
    requirements = [f"pkg{i:03d}" for i in range(count)]
    command = [sys.executable, "-c", WORKER, str(index), str(plugin_dir), *requirements]
    worker = Popen(command, stdin=PIPE, stdout=PIPE, text=True, env=env)
    assert worker.stdout is not None
    if worker.stdout.readline().strip() != "ready":
        raise RuntimeError(f"worker for {count} did not start")
    return worker


def finished_worker(worker: Popen[str]) -> float:
    """Let ``worker`` sync the change; its in-process seconds."""
    stdout, _ = worker.communicate("go\n", timeout=600)
    if worker.returncode != 0:
        raise RuntimeError(f"worker failed ({worker.returncode})")
    return float(stdout.split()[-1])


def report(times: dict[tuple[str, int], list[float]], counts: list[int]) -> None:
    medians = {key: statistics.median(values) for key, values in times.items()}
    for (tool, count), values in sorted(times.items()):
        runs = ", ".join(f"{v * 1000:.0f}" for v in values)
        print(f"{tool:5s} {count:4d}: median {medians[tool, count] * 1000:6.0f} ms  ({runs})")
    low, high = counts[0], counts[-1]
    for tool in ("cli", "warm", "worker", "uv"):
        print(f"{tool} {high}/{low}: {medians[tool, high] / medians[tool, low]:.2f}x")
    for tool in ("cli", "warm", "worker"):
        for count in counts:
            print(f"{tool}/uv at {count}: {medians[tool, count] / medians['uv', count]:.2f}x")


if __name__ == "__main__":
    main()
