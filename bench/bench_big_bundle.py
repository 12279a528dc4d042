"""One big bundle against its honest floor (issue 26's big-bundle target).

Workload: one bundle of --size-mb (default 500) MB: seeded random (incompressible) data split
into a few files, plus a compressible text file (about 15% of the size), built with hatchling
and published to a local-directory index, which a fair static server also serves over HTTP:
answering ``Range`` requests as nginx, S3 and CDNs do (the HTTP rows), and ignoring them as
``python -m http.server`` does (the "no Range" row: a big bundle is then downloaded to a
temporary file before it is verified, instead of verified as it arrives).

Each round (interleaved, the order rotating) times a fresh ``dioptra-plugins sync`` of it into
an empty plugin dir from the local index and over HTTP: wall time, CPU seconds (the process
and every descendant) and peak RSS (``ru_maxrss`` of a small launcher's children: a child forked
from this process would report this process's pages as its own).  It also times a warm worker
from each (a process that synced a small package of the same index before, as a worker that
syncs before each job has: imports done, connections open), its ``sync()`` call alone, which
is where the product measures worker targets.  In the same round each per-byte step a sync
must take is measured alone, as CPU seconds of one thread:

- read: the wheel read from disk in 1 MB chunks (local), or one streaming GET (HTTP);
- sha256 of the wheel;
- inflate: zlib over every entry's deflate stream;
- sha256 of the entries' bytes;
- write: the entries' bytes written to new files, each fsynced.

The honest floor is the sum of those CPU seconds divided by the cores (a perfect pipeline).
The target, "within 0.7x of the floor", is read as floor / sync wall time >= 0.7 (the sync
runs at least 70% as fast as the floor; wall time at most 1.43x the floor); peak RSS within
150 MB.  Results go to bench/results/big_bundle.json.

Run: .venv/bin/python bench/bench_big_bundle.py [--size-mb 500] [--rounds 3]
     (--quick: 8 MB, one round; nothing saved)
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import http.client
import os
import random
import shutil
import statistics
import struct
import sys
import tempfile
import time
import urllib.parse
import zipfile
import zlib
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from bench_sync import CLI
from fairserver import serve_directory
from plots import save_results
from processes import become_subreaper, run_measured

CHUNK = 1024 * 1024
RANDOM_FILES = 4
COMPRESSIBLE_SHARE = 0.15
RSS_TARGET_MB = 150
FLOOR_TARGET = 0.7
# Each sync, and the read step of the other source that its floor leaves out.
SOURCES_AND_OTHER_READS = (
    ("local", "GET (HTTP)"),
    ("HTTP", "read (local)"),
    ("warm local", "GET (HTTP)"),
    ("warm HTTP", "read (local)"),
    ("warm HTTP, no Range", "read (local)"),
)

# Runs the sync as its child and reports what only a parent sees: the child's wall time, its
# peak RSS, and this launcher's own CPU (subtracted from the measured total).
LAUNCHER = """
import resource, subprocess, sys, time
started = time.perf_counter()
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
wall = time.perf_counter() - started
own = resource.getrusage(resource.RUSAGE_SELF)
print(wall, resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss, own.ru_utime + own.ru_stime)
"""


# A worker that synced before: it syncs the small "warmup" package into a scratch dir, then
# times its sync of the big one (wall, its own CPU and its helpers', peak RSS of the process).
WARM_WORKER = """
import resource, shutil, sys, time
from dioptra_plugins import sync
index, scratch, plugin_dir = sys.argv[1:]
sync(["warmup"], index=index, plugin_dir=scratch)
shutil.rmtree(scratch)
def cpu():
    own = resource.getrusage(resource.RUSAGE_SELF)
    helpers = resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + helpers.ru_utime + helpers.ru_stime
before, started = cpu(), time.perf_counter()
sync(["bigdata"], index=index, plugin_dir=plugin_dir)
wall = time.perf_counter() - started
print(wall, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss, cpu() - before)
"""


def write_package(root: Path, size_mb: int, seed: int = 26) -> Path:
    """The package: RANDOM_FILES seeded random files, one compressible CSV, an ``__init__``."""
    package = root / "bigdata"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('VERSION = "1.0.0"\n')
    rng = random.Random(seed)
    total = size_mb * CHUNK
    compressible = int(total * COMPRESSIBLE_SHARE)
    per_file = (total - compressible) // RANDOM_FILES
    for number in range(RANDOM_FILES):
        with (package / f"weights{number}.bin").open("wb") as out:
            left = per_file
            while left:
                step = min(CHUNK, left)
                out.write(rng.randbytes(step))
                left -= step
    rows = "".join(f"{i},{rng.random():.4f},label_{i % 17}\n" for i in range(4096)).encode()
    with (package / "table.csv").open("wb") as out:
        written = 0
        while written < compressible:
            out.write(rows)
            written += len(rows)
    return package


def thread_cpu(step: Callable[[], object]) -> float:
    """CPU seconds this thread spends in ``step`` (the HTTP server's threads do not count)."""
    before = time.thread_time()
    step()
    return time.thread_time() - before


def chunks(path: Path) -> Iterator[memoryview]:
    buffer = bytearray(CHUNK)
    view = memoryview(buffer)
    with path.open("rb", buffering=0) as stream:
        while count := stream.readinto(buffer):
            yield view[:count]


def read_all(paths: list[Path]) -> None:
    for path in paths:
        for _ in chunks(path):
            pass


def hash_all(paths: list[Path]) -> None:
    for path in paths:
        digest = hashlib.sha256()
        for chunk in chunks(path):
            digest.update(chunk)


def http_get(url: str) -> None:
    parts = urllib.parse.urlsplit(url)
    connection = http.client.HTTPConnection(parts.netloc)
    connection.request("GET", parts.path)
    response = connection.getresponse()
    buffer = bytearray(CHUNK)
    while response.readinto(buffer):
        pass
    connection.close()


def inflate_entries(wheel: Path) -> int:
    """Inflate every deflated entry's raw stream (CRCs and names not checked); bytes out."""
    produced = 0
    with zipfile.ZipFile(wheel) as archive, wheel.open("rb") as stream:
        for info in archive.infolist():
            stream.seek(info.header_offset)
            header = stream.read(30)
            name_length, extra_length = struct.unpack("<HH", header[26:30])
            stream.seek(info.header_offset + 30 + name_length + extra_length)
            left = info.compress_size
            inflater = (
                zlib.decompressobj(-15) if info.compress_type == zipfile.ZIP_DEFLATED else None
            )
            while left:
                data = stream.read(min(CHUNK, left))
                left -= len(data)
                produced += len(inflater.decompress(data, CHUNK * 64)) if inflater else len(data)
    return produced


def write_entries(paths: list[Path], target: Path) -> None:
    """Write the entries' bytes (read beforehand, chunk by chunk) to new fsynced files; the
    read's CPU is measured apart and subtracted by the caller."""
    target.mkdir()
    for path in paths:
        descriptor = os.open(target / path.name, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        try:
            for chunk in chunks(path):
                os.write(descriptor, chunk)
            os.fsync(descriptor)
        finally:
            os.close(descriptor)
    shutil.rmtree(target)


def measure_steps(wheel: Path, entries: list[Path], work: Path, url: str) -> dict[str, float]:
    """Each per-byte step alone, CPU seconds; a step that needs a read has the read removed."""
    read_wheel = thread_cpu(lambda: read_all([wheel]))
    read_entries = thread_cpu(lambda: read_all(entries))
    return {
        "read (local)": read_wheel,
        "GET (HTTP)": thread_cpu(lambda: http_get(url)),
        "sha256 of the wheel": max(0.0, thread_cpu(lambda: hash_all([wheel])) - read_wheel),
        "inflate": max(0.0, thread_cpu(lambda: inflate_entries(wheel)) - read_wheel),
        "sha256 of the entries": max(0.0, thread_cpu(lambda: hash_all(entries)) - read_entries),
        "write": max(
            0.0, thread_cpu(lambda: write_entries(entries, work / "raw-write")) - read_entries
        ),
    }


def sync_once(index: str, plugin_dir: Path) -> dict[str, float]:
    command = [sys.executable, "-c", LAUNCHER, CLI, "sync", "bigdata"]
    measured = run_measured([*command, "--index", index, "--plugin-dir", str(plugin_dir), "-q"])
    wall, rss_kb, launcher_cpu = measured.stdout.split()[-3:]
    shutil.rmtree(plugin_dir)
    cpu = measured.cpu - float(launcher_cpu)
    return {"wall": float(wall), "cpu": cpu, "rss_mb": int(rss_kb) / 1024}


# Starts the warm worker from a small process: a child forked from this one would start its
# peak RSS (``ru_maxrss`` survives exec) at this process's size.
PASS_THROUGH = "import subprocess, sys; sys.exit(subprocess.run(sys.argv[1:]).returncode)"


def sync_warm(index: str, plugin_dir: Path) -> dict[str, float]:
    scratch = plugin_dir.with_name(plugin_dir.name + "-warmup")
    worker = [sys.executable, "-c", WARM_WORKER, index, str(scratch), str(plugin_dir)]
    measured = run_measured([sys.executable, "-c", PASS_THROUGH, *worker])
    wall, rss_kb, cpu = measured.stdout.split()[-3:]
    shutil.rmtree(plugin_dir)
    return {"wall": float(wall), "cpu": float(cpu), "rss_mb": int(rss_kb) / 1024}


def write_warmup(root: Path) -> Path:
    """The small package a warm worker syncs first."""
    package = root / "warmup"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('VERSION = "1.0.0"\n')
    return package


def run(work: Path, size_mb: int, rounds: int) -> dict[str, Any]:
    from dioptra_plugins.bundle.build import build_bundle
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish

    started = time.perf_counter()
    package = write_package(work / "src", size_mb)
    wheel = build_bundle(package, work / "wheels", version="1.0.0")
    warmup = build_bundle(write_warmup(work / "warmup-src"), work / "wheels", version="1.0.0")
    index = work / "index"
    publish(open_storage(str(index)), [wheel, warmup])
    print(f"built {wheel.name}: {wheel.stat().st_size / CHUNK:.0f} MB in "
          f"{time.perf_counter() - started:.0f} s", flush=True)  # fmt: skip
    entries = sorted(path for path in package.iterdir() if path.is_file())
    cores = os.cpu_count() or 1
    rows: list[dict[str, Any]] = []
    with serve_directory(index, ranges=True) as http_url, serve_directory(index) as no_range_url:
        wheel_url = f"{http_url}/{next(index.rglob(wheel.name)).relative_to(index).as_posix()}"
        for r in range(rounds):
            sources = [
                ("local", str(index), sync_once),
                ("HTTP", http_url, sync_once),
                ("warm local", str(index), sync_warm),
                ("warm HTTP", http_url, sync_warm),
                ("warm HTTP, no Range", no_range_url, sync_warm),
            ]
            row: dict[str, Any] = {"steps": measure_steps(wheel, entries, work, wheel_url)}
            turn = r % len(sources)
            for source, where, timed in sources[turn:] + sources[:turn]:
                slug = "".join(c if c.isalnum() else "-" for c in source)
                row[source] = timed(where, work / f"plugins-{r}-{slug}")
            for source, other_read in SOURCES_AND_OTHER_READS:
                steps = {k: v for k, v in row["steps"].items() if k != other_read}
                floor = sum(steps.values()) / cores
                row[source]["floor"] = floor
                row[source]["floor_over_wall"] = floor / row[source]["wall"]
            rows.append(row)
            print_round(r, row)
    return {"size_mb": wheel.stat().st_size / CHUNK, "cores": cores, "rounds": rows}


def print_round(number: int, row: dict[str, Any]) -> None:
    steps = ", ".join(f"{name} {cpu:.2f}" for name, cpu in row["steps"].items())
    print(f"round {number}: step CPU seconds: {steps}")
    for source, _other in SOURCES_AND_OTHER_READS:
        result = row[source]
        print(
            f"  sync from {source}: {result['wall']:.2f} s wall, {result['cpu']:.2f} s CPU, "
            f"peak RSS {result['rss_mb']:.0f} MB; floor {result['floor']:.2f} s; "
            f"floor / wall {result['floor_over_wall']:.2f} (target >= {FLOOR_TARGET})",
            flush=True,
        )


def summary(results: dict[str, Any]) -> None:
    rounds = results["rounds"]
    print(f"big bundle {results['size_mb']:.0f} MB, {results['cores']} cores:")
    for source, _other in SOURCES_AND_OTHER_READS:
        ratio = statistics.median(row[source]["floor_over_wall"] for row in rounds)
        wall = statistics.median(row[source]["wall"] for row in rounds)
        rss = max(row[source]["rss_mb"] for row in rounds)
        met = ratio >= FLOOR_TARGET and rss <= RSS_TARGET_MB
        print(
            f"| sync from {source} | {wall:.2f} s | floor / wall {ratio:.2f} (target >= "
            f"{FLOOR_TARGET}) | peak RSS {rss:.0f} MB (target <= {RSS_TARGET_MB}) | "
            f"{'met' if met else 'MISSED'} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size-mb", type=int, default=500)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--quick", action="store_true", help="8 MB, one round; nothing saved")
    args = parser.parse_args()
    if args.quick:
        args.size_mb, args.rounds = 8, 1
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    become_subreaper()
    with tempfile.TemporaryDirectory(prefix="bench-big-bundle-") as temp:
        results = run(Path(temp), args.size_mb, args.rounds)
    summary(results)
    if not args.quick:
        results["meta"] = {
            "date": datetime.date.today().isoformat(),
            "load_average": os.getloadavg()[1],
        }
        print(f"results: {save_results('big_bundle.json', results)}")


if __name__ == "__main__":
    main()
