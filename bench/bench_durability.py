"""Making a sync's extracted tree durable: one ``syncfs`` against batched ``fsync``/``fdatasync``.

Before the rename that switches the plugin dir to a new generation, ``dioptra-plugins sync``
calls ``flush_filesystem`` (``syncfs(2)`` on the plugin dir's filesystem) so that every file and
directory it extracted is on disk.  ``syncfs`` flushes the whole filesystem, so on a worker that
is also writing datasets it waits for everyone's dirty pages.  This measures the alternative:
flushing only what the sync wrote.

Workload: a fresh tree shaped like a sync's store, 40 directories x 55 files of about 3 KB
(25 sources + 25 pycs + dist-info), written into a temp dir under /tmp (the filesystem real syncs
use) before every timing and removed after it.  Strategies, each timed from "tree written" to
"tree durable":

- ``syncfs`` once (``dioptra_plugins.fsutil.flush_filesystem``, what sync does today);
- ``fsync`` of every file and every directory (the tree's root and its parent included), serially;
- the same ``fsync`` calls over a thread pool of 8 and of 32 threads (ext4 folds concurrent
  fsyncs into shared journal commits);
- ``fdatasync`` instead of ``fsync``, 32 threads.

Each strategy runs on a quiet machine and next to a noisy neighbour: a child process (started
here, stopped and continued with SIGSTOP/SIGCONT, killed by its pid at the end) that keeps
writing 256 MB chunks into a dataset file in another temp dir on the same filesystem, without
fsync, alternating between two files of at most --noise-cap-mb / 2 each (the older one is
deleted and rewritten).  A noisy timing starts only once /proc/meminfo ``Dirty:`` exceeds
--noise-dirty-mb (or after --noise-wait-seconds, with a warning); a quiet phase starts after
the neighbour is stopped and its dirty pages are flushed, and every quiet timing after one more
flush (so the fresh tree is the only dirty data of ours).  Rounds are interleaved: each round
runs the noisy phase, then the quiet phase, with the strategy order rotating from round to
round.  A timing that passes --max-seconds stops flushing and is reported as a lower bound
(``>=``).

Output: one line per timing, the per-round values, and a markdown table of medians with the
Dirty MB at the start of the timings.

Run: .venv/bin/python bench/bench_durability.py [--rounds 5]
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from dioptra_plugins.fsutil import flush_filesystem

MIB = 1024 * 1024
NOISE_BLOCK = 16 * MIB
CONDITIONS = ("noisy", "quiet")


@dataclass(frozen=True)
class Strategy:
    """One way of making the tree durable: ``syncfs`` (no ``flush``) or per-path flushes."""

    name: str
    threads: int
    flush: Callable[[int], None] | None


STRATEGIES = (
    Strategy("syncfs once (flush_filesystem)", 0, None),
    Strategy("fsync each file + dir, serial", 1, os.fsync),
    Strategy("fsync, 8 threads", 8, os.fsync),
    Strategy("fsync, 32 threads", 32, os.fsync),
    Strategy("fdatasync, 32 threads", 32, os.fdatasync),
)


@dataclass(frozen=True)
class Tree:
    """A written tree: its root, and every path the per-path strategies flush."""

    root: Path
    targets: tuple[tuple[Path, bool], ...]  # (path, is a directory); files first


@dataclass(frozen=True)
class Sample:
    """One timing."""

    ms: float
    dirty_mb: float
    writeback_mb: float
    complete: bool


def meminfo_mb(*fields: str) -> tuple[float, ...]:
    """The named /proc/meminfo fields, in MB."""
    values: dict[str, float] = {}
    with open("/proc/meminfo") as stream:
        for line in stream:
            key, _, rest = line.partition(":")
            values[key] = int(rest.split()[0]) / 1024
    return tuple(values[name] for name in fields)


def write_tree(root: Path, directories: int, files: int, size: int, payload: bytes) -> Tree:
    """A fresh store-like tree below ``root`` (not flushed)."""
    root.mkdir()
    file_paths: list[Path] = []
    dir_paths: list[Path] = []
    for d in range(directories):
        directory = root / f"package_{d:03d}-1.0"
        directory.mkdir()
        dir_paths.append(directory)
        for f in range(files):
            path = directory / f"file_{f:03d}.py"
            start = (d * files + f) * 61 % (len(payload) - size)
            with path.open("wb") as stream:
                stream.write(payload[start : start + size])
            file_paths.append(path)
    targets = [(path, False) for path in file_paths]
    targets += [(path, True) for path in [*dir_paths, root, root.parent]]
    return Tree(root, tuple(targets))


def flush_path(path: Path, is_dir: bool, flush: Callable[[int], None]) -> None:
    """``flush`` (fsync or fdatasync) one file or directory."""
    descriptor = os.open(path, os.O_RDONLY | (os.O_DIRECTORY if is_dir else 0))
    try:
        flush(descriptor)
    finally:
        os.close(descriptor)


def make_durable(strategy: Strategy, tree: Tree, deadline: float) -> bool:
    """Run ``strategy`` on ``tree``; False when it passed ``deadline`` and stopped early."""
    flush = strategy.flush
    if flush is None:
        flush_filesystem(tree.root)
        return True
    if strategy.threads == 1:
        for path, is_dir in tree.targets:
            if time.perf_counter() > deadline:
                return False
            flush_path(path, is_dir, flush)
        return True

    def one(target: tuple[Path, bool]) -> bool:
        if time.perf_counter() > deadline:
            return False
        flush_path(*target, flush)
        return True

    with ThreadPoolExecutor(max_workers=strategy.threads) as pool:
        return all(list(pool.map(one, tree.targets)))


def run_neighbour(directory: Path, cap: int, chunk: int) -> None:
    """Keep writing (no fsync) two alternating dataset files of at most ``cap / 2`` each."""
    parent = os.getppid()
    block = os.urandom(NOISE_BLOCK)
    per_file = max(chunk, cap // 2)
    index = 0
    while True:
        path = directory / f"dataset-{index % 2}.bin"
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        try:
            written = 0
            while written < per_file:
                for _ in range(chunk // NOISE_BLOCK):
                    os.write(descriptor, block)
                written += chunk
                if os.getppid() != parent:  # the benchmark is gone: so are we
                    return
        finally:
            os.close(descriptor)
        index += 1


class Neighbour:
    """The noisy neighbour child process, addressed only by its own pid."""

    def __init__(self, directory: Path, cap_mb: int, chunk_mb: int) -> None:
        command = [sys.executable, __file__, "--neighbour", str(directory)]
        command += ["--noise-cap-mb", str(cap_mb), "--noise-chunk-mb", str(chunk_mb)]
        self.process = subprocess.Popen(command)
        self.pause()

    def _signal(self, signum: signal.Signals, stopped: bool) -> None:
        if self.process.poll() is not None:
            raise RuntimeError(f"noisy neighbour {self.process.pid} exited")
        os.kill(self.process.pid, signum)
        stat = Path(f"/proc/{self.process.pid}/stat")
        for _ in range(500):
            if (stat.read_text().rsplit(")", 1)[1].split()[0] == "T") == stopped:
                return
            time.sleep(0.01)
        raise RuntimeError(f"noisy neighbour {self.process.pid} did not {signum.name}")

    def pause(self) -> None:
        self._signal(signal.SIGSTOP, stopped=True)

    def resume(self) -> None:
        self._signal(signal.SIGCONT, stopped=False)

    def kill(self) -> None:
        if self.process.poll() is None:
            os.kill(self.process.pid, signal.SIGKILL)  # also ends a stopped process
        self.process.wait()


def wait_for_dirty(minimum_mb: float, timeout: float) -> bool:
    """Wait until ``Dirty:`` reaches ``minimum_mb``; False on timeout."""
    end = time.monotonic() + timeout
    while meminfo_mb("Dirty")[0] < minimum_mb:
        if time.monotonic() > end:
            return False
        time.sleep(0.05)
    return True


def describe_machine() -> None:
    """What the numbers depend on: kernel, filesystem, dirty-page limits, free space."""
    print(f"kernel {os.uname().release}, {os.cpu_count()} cpus")
    with contextlib.suppress(OSError, subprocess.CalledProcessError):
        mount = subprocess.run(
            ["findmnt", "-no", "SOURCE,FSTYPE,OPTIONS", "--target", "/tmp"],
            check=True,
            capture_output=True,
            text=True,
        )
        print(f"/tmp on {mount.stdout.strip()}")
    limits = {}
    for name in ("dirty_ratio", "dirty_background_ratio", "dirty_bytes", "dirty_expire_centisecs"):
        limits[name] = Path(f"/proc/sys/vm/{name}").read_text().strip()
    total, available = meminfo_mb("MemTotal", "MemAvailable")
    print(f"MemTotal {total:.0f} MB, MemAvailable {available:.0f} MB, vm: {limits}")
    subprocess.run(["df", "-h", "/tmp"], check=False)


def median_cell(samples: Sequence[Sample]) -> str:
    if not samples:
        return "-"
    value = f"{statistics.median(sample.ms for sample in samples):.1f}"
    return value if all(sample.complete for sample in samples) else f">={value}"


def dirty_note(samples: Sequence[Sample]) -> str:
    if not samples:
        return "-"
    dirty = [sample.dirty_mb for sample in samples]
    return f"{statistics.median(dirty):.0f} ({min(dirty):.0f}-{max(dirty):.0f})"


def report(results: dict[tuple[str, str], list[Sample]], args: argparse.Namespace) -> None:
    print("\nper-round values, ms (Dirty MB at start; >= stopped at --max-seconds):")
    for strategy in STRATEGIES:
        for condition in CONDITIONS:
            cells = [
                f"{'>=' if not s.complete else ''}{s.ms:.1f} ({s.dirty_mb:.0f})"
                for s in results[strategy.name, condition]
            ]
            print(f"  {strategy.name:32} {condition:5}  {', '.join(cells)}")
    files = args.dirs * args.files_per_dir
    print(
        f"\n{files} files x {args.file_size} B in {args.dirs} dirs"
        f" ({files + args.dirs + 2} paths flushed by the per-path strategies),"
        f" medians over {args.rounds} rounds\n"
    )
    print("| strategy | quiet median ms | noisy median ms | notes (Dirty MB at start) |")
    print("|---|---:|---:|---|")
    for strategy in STRATEGIES:
        quiet = results[strategy.name, "quiet"]
        noisy = results[strategy.name, "noisy"]
        notes = f"quiet {dirty_note(quiet)}; noisy {dirty_note(noisy)}"
        print(f"| {strategy.name} | {median_cell(quiet)} | {median_cell(noisy)} | {notes} |")


def benchmark(args: argparse.Namespace, workspace: Path, neighbour: Neighbour) -> None:
    payload = os.urandom(256 * 1024)
    results: dict[tuple[str, str], list[Sample]] = {
        (strategy.name, condition): [] for strategy in STRATEGIES for condition in CONDITIONS
    }
    serial = 0
    for round_index in range(args.rounds):
        order = [*STRATEGIES[round_index % len(STRATEGIES) :]]
        order += STRATEGIES[: round_index % len(STRATEGIES)]
        for condition in CONDITIONS:
            if condition == "noisy":
                neighbour.resume()
            else:
                neighbour.pause()
                settle = time.perf_counter()
                flush_filesystem(workspace)
                print(
                    f"round {round_index + 1}: neighbour stopped, flushed its dirty pages in"
                    f" {time.perf_counter() - settle:.1f} s"
                )
            for strategy in order:
                if condition == "quiet":
                    flush_filesystem(workspace)
                serial += 1
                tree = write_tree(
                    workspace / f"tree-{serial:04d}",
                    args.dirs,
                    args.files_per_dir,
                    args.file_size,
                    payload,
                )
                waited = time.perf_counter()
                if condition == "noisy" and not wait_for_dirty(
                    args.noise_dirty_mb, args.noise_wait_seconds
                ):
                    print(
                        f"  Dirty stayed below {args.noise_dirty_mb} MB for"
                        f" {args.noise_wait_seconds:.0f} s: timing anyway"
                    )
                waited = time.perf_counter() - waited
                dirty, writeback = meminfo_mb("Dirty", "Writeback")
                start = time.perf_counter()
                complete = make_durable(strategy, tree, start + args.max_seconds)
                elapsed = (time.perf_counter() - start) * 1000
                sample = Sample(elapsed, dirty, writeback, complete)
                results[strategy.name, condition].append(sample)
                print(
                    f"round {round_index + 1} {condition:5} {strategy.name:32}"
                    f" {'>=' if not complete else '  '}{elapsed:9.1f} ms"
                    f"   Dirty {dirty:6.0f} MB  Writeback {writeback:5.0f} MB at start"
                    f" (waited {waited:4.1f} s)",
                    flush=True,
                )
                shutil.rmtree(tree.root)
    report(results, args)


def parse_args(argv: Sequence[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--dirs", type=int, default=40)
    parser.add_argument("--files-per-dir", type=int, default=55)
    parser.add_argument("--file-size", type=int, default=3 * 1024)
    parser.add_argument("--noise-cap-mb", type=int, default=4000, help="neighbour's disk use")
    parser.add_argument("--noise-chunk-mb", type=int, default=256)
    parser.add_argument("--noise-dirty-mb", type=int, default=768, help="Dirty: before a timing")
    parser.add_argument("--noise-wait-seconds", type=float, default=15.0)
    parser.add_argument("--max-seconds", type=float, default=20.0, help="per timing")
    parser.add_argument("--neighbour", type=Path, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def main() -> None:
    args = parse_args()
    if args.neighbour is not None:
        run_neighbour(args.neighbour, args.noise_cap_mb * MIB, args.noise_chunk_mb * MIB)
        return
    began = time.perf_counter()
    describe_machine()
    free_mb = shutil.disk_usage("/tmp").free / MIB
    if free_mb < 2 * args.noise_cap_mb:
        args.noise_cap_mb = int(free_mb / 4)
        print(f"little free space in /tmp: neighbour capped at {args.noise_cap_mb} MB")
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(143))  # so that the cleanup below runs
    workspace = Path(tempfile.mkdtemp(dir="/tmp", prefix="bench-durability-"))
    noise_dir = Path(tempfile.mkdtemp(dir="/tmp", prefix="bench-durability-noise-"))
    neighbour: Neighbour | None = None
    try:
        neighbour = Neighbour(noise_dir, args.noise_cap_mb, args.noise_chunk_mb)
        print(f"noisy neighbour pid {neighbour.process.pid} writing into {noise_dir}\n")
        benchmark(args, workspace, neighbour)
    finally:
        if neighbour is not None:
            neighbour.kill()
        shutil.rmtree(workspace, ignore_errors=True)
        shutil.rmtree(noise_dir, ignore_errors=True)
    print(f"\ntotal runtime {time.perf_counter() - began:.0f} s")


if __name__ == "__main__":
    main()
