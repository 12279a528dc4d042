"""Sync speed and request counts against what a user would do instead (issue 4).

Workload: 40 plugin packages x 25 modules (about 1,000 files) built into bundles and published
to an index in a loopback SeaweedFS bucket; the same package trees are also uploaded as plain
files for ``aws s3 sync``; ``uv pip install --target`` installs the same wheels from the
index's PEP 503 pages (served over loopback HTTP from a local copy of the index, since uv does
not speak S3), each run with an empty cache of its own (``--cache-dir``, the work of
``--no-cache`` without its deletion at exit: see ``with_fresh_dirs``).  Scenarios, interleaved per
round (the order rotates each round):

- cold: an empty plugin dir / target dir / download dir;
- no-op: the same again; ours is also compared with a bare script that imports boto3 and makes
  one conditional GET, and timed in-process (a worker calling ``sync()`` before each job);
- one changed: one package republished with a new version.

Then (unless --skip-big) one 500 MB bundle: sync speed against its floor, the slowest of a raw
streaming GET, a sha256 of the same bytes and one write of the extracted bytes (also reported
with that write fsynced, as a sync makes it durable), and the peak memory (max RSS) of the sync
process.

Ours also runs against the same index served over HTTP by uv's server (``ours-http``): the
same peer as uv, and no boto3 start-up; and in a warm worker (``warm``, ``warm-http``: a
process that synced before, timing only its ``sync()`` call), the way a worker syncs before
each job.  ``imports`` times a bare interpreter importing the libraries a sync that installs
needs: the floor of any fresh process.  Every run's CPU seconds (user + system, children
included) are reported too.

Run: .venv/bin/python bench/bench_sync.py [--rounds 5] [--skip-big]
"""

from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))

import s3servers  # noqa: E402
from faultproxy import FaultProxy  # noqa: E402

sys.path.insert(0, str(ROOT / "bench"))
from fairserver import serve_directory  # noqa: E402
from processes import process_cpu  # noqa: E402

BIN = Path(sys.executable).parent
CLI = str(BIN / "dioptra-plugins")
AWS = str(BIN / "aws")
UV = str(BIN / "uv")
PACKAGES = 40
MODULES = 25

MODULE = '''"""Module {m} of {pkg} {version}: generated for the sync benchmark."""

from dioptra_plugins.pyplugs import register

TABLE = {table!r}


@register
def task_{m}(x: float, scale: float = 1.0) -> float:
    """Scale x, then add a constant from the table ({version})."""
    return x * scale + TABLE[{m} % len(TABLE)]


def helper_{m}(values: list[float]) -> float:
    total = 0.0
    for value in values:
        total += task_{m}(value)
    return total
'''


def write_package(parent: Path, name: str, version: str) -> Path:
    package = parent / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'VERSION = "{version}"\n')
    for m in range(MODULES - 1):
        table = [round((hash((name, m, k)) % 10_000) / 7.0, 3) for k in range(60)]
        (package / f"mod{m:02d}.py").write_text(
            MODULE.format(m=m, pkg=name, version=version, table=table)
        )
    return package


def build_all(work: Path, rounds: int) -> tuple[list[Path], list[Path], Path]:
    """The 40 bundles, the changed versions of pkg00 (one per round), and the plain trees."""
    from dioptra_plugins.bundle.build import build_bundle

    trees = work / "trees"
    jobs = [(f"pkg{i:02d}", "1.0.0") for i in range(PACKAGES)]
    jobs += [("pkg00", f"1.0.{r + 1}") for r in range(rounds)]

    def one(job: tuple[str, str]) -> Path:
        name, version = job
        source = write_package(work / "src" / f"{name}-{version}", name, version)
        if version == "1.0.0":
            shutil.copytree(source, trees / name)
        return build_bundle(source, work / "wheels", version=version)

    with ThreadPoolExecutor(max_workers=2) as pool:
        wheels = list(pool.map(one, jobs))
    return wheels[:PACKAGES], wheels[PACKAGES:], trees


CPU: dict[str, list[float]] = {}
"""CPU seconds (user + system, the process and its children) of each timed run, by key."""


def children_cpu() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def timed(
    command: list[str], env: dict[str, str] | None = None, *, cpu_key: str | None = None
) -> tuple[float, str]:
    """Wall seconds and stdout of ``command``; its CPU seconds go to ``CPU[cpu_key]``."""
    cpu_before = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    if cpu_key is not None:
        CPU.setdefault(cpu_key, []).append(children_cpu() - cpu_before)
    return elapsed, done.stdout


def http_server(directory: Path) -> contextlib.AbstractContextManager[str]:
    """The uv baseline's static server: a fair one (listen queue, keep-alive, TCP_NODELAY)."""
    return serve_directory(directory)


def count_requests(endpoint: str, command: list[str]) -> int:
    """HTTP requests ``command`` sends to S3, counted by a forwarding proxy."""
    with FaultProxy(endpoint) as proxy:
        env = {**os.environ, "AWS_ENDPOINT_URL": proxy.url}
        timed(command, env)
        return proxy.count()


def median(values: list[float]) -> float:
    return statistics.median(values)


def fmt(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms" if seconds < 10 else f"{seconds:.1f} s"


def bench_workload(server: s3servers.S3Server, work: Path, rounds: int) -> dict[str, Any]:
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish
    from dioptra_plugins.syncing.engine import sync

    wheels, changed, trees = build_all(work, rounds)
    bucket = server.create_bucket("bench")
    index = f"s3://{bucket}/plugins"
    publish(open_storage(index), wheels)
    local_index = work / "local-index"
    publish(open_storage(str(local_index)), wheels)
    timed([AWS, "s3", "sync", str(trees), f"s3://{bucket}/tree", "--only-show-errors"])
    requirements = [f"pkg{i:02d}" for i in range(PACKAGES)]
    files = sum(1 for _ in trees.rglob("*.py"))

    results: dict[str, list[float]] = {}

    def add(key: str, value: float) -> None:
        results.setdefault(key, []).append(value)

    requests: dict[str, Any] = {}
    with http_server(local_index) as http_url:
        for r in range(rounds):
            ours_dir, aws_dir, uv_dir, uvc_dir = (
                work / f"round{r}" / n for n in ("ours", "aws", "uv", "uv-compile")
            )
            ours = [
                CLI,
                "sync",
                *requirements,
                "--index",
                index,
                "--plugin-dir",
                str(ours_dir),
                "--json",
            ]
            aws = [AWS, "s3", "sync", f"s3://{bucket}/tree", str(aws_dir), "--only-show-errors"]
            # An empty cache per run, as with --no-cache, but kept until the end: --no-cache
            # deletes its temporary cache (2,000 files) at exit, and on this VM's ext4 (no
            # journal) inodes deleted in the last 60-300 s make every later file creation scan
            # past them (recently_deleted(), 150-250 us a file instead of about 20), so each
            # deletion slowed the runs after it, ours and uv's alike.  Nothing is deleted
            # while the rounds run.
            uv = [
                UV,
                "pip",
                "install",
                "--target",
                str(uv_dir),
                "--cache-dir",
                "CACHE",
                "--python",
                sys.executable,
                "--index-url",
                f"{http_url}/simple/",
                "--quiet",
                *requirements,
            ]
            # Sync compiles bytecode at install (issue 9), so uv is also timed doing the same.
            uv_compile = [
                *[str(uvc_dir) if part == str(uv_dir) else part for part in uv],
                "--compile-bytecode",
            ]
            # The same sync reading the index over HTTP from uv's own server: the same bytes,
            # the same peer, no boto3 start-up (about 0.35 s of the S3 runs).
            ours_http = [
                *[str(work / f"round{r}" / "ours-http") if p == str(ours_dir) else p for p in ours]
            ]
            ours_http[ours_http.index(index)] = http_url
            # A worker that synced before (imports done, client made) calling sync() in-process.
            warm, warm_http = (
                [
                    sys.executable,
                    "-c",
                    WARM_WORKER,
                    url,
                    "SCRATCH",  # each run warms up in a plugin dir of its own
                    "pkg01",
                    str(work / f"round{r}" / name),
                    *requirements,
                ]
                for url, name in ((index, "warm"), (http_url, "warm-http"))
            )
            tools = [("ours", ours), ("aws", aws), ("uv", uv), ("ours-http", ours_http)]
            tools += [("warm", warm), ("warm-http", warm_http)]
            tools = tools[r % len(tools) :] + tools[: r % len(tools)]
            # cold
            for name, command in [*tools, ("uv-compile", uv_compile)]:
                elapsed, out = run_tool(name, command, work, f"cold/{name}")
                add(f"cold/{name}", elapsed)
                if name == "ours":
                    requests["cold/ours"] = json.loads(out)["requests"]
            # The floor of a fresh process: the interpreter importing the libraries every
            # sync that installs needs (CLI, HTTP, resolver, wheel checks), and nothing else.
            elapsed, _ = timed([sys.executable, "-c", IMPORTS], cpu_key="imports")
            add("imports", elapsed)
            # no-op
            root_etag = open_storage(index).get("index.json").etag
            bare = [
                sys.executable,
                "-c",
                (
                    "import boto3, botocore.exceptions as e\n"
                    "c = boto3.client('s3')\n"
                    "try:\n"
                    f"    c.get_object(Bucket={bucket!r}, Key='plugins/index.json', "
                    f"IfNoneMatch={root_etag!r})\n"
                    "except e.ClientError:\n"
                    "    pass\n"
                ),
            ]
            for name, command in [*tools, ("bare", bare)]:
                if name.startswith("warm"):
                    continue  # the in-process no-op is timed below, 200 times
                elapsed, out = timed(command)
                add(f"noop/{name}", elapsed)
                if name == "ours":
                    summary = json.loads(out)
                    requests["noop/ours"] = summary["requests"]
                    assert summary["not_modified"], summary
            # one changed: a new version of pkg00 published; its tree changes for aws
            publish(open_storage(index), [changed[r]])
            publish(open_storage(str(local_index)), [changed[r]])
            new_tree = work / "src" / f"pkg00-1.0.{r + 1}" / "pkg00"
            timed(
                [
                    AWS,
                    "s3",
                    "sync",
                    str(new_tree),
                    f"s3://{bucket}/tree/pkg00",
                    "--only-show-errors",
                ]
            )
            uv_changed = [*uv[:-PACKAGES], "--upgrade-package", "pkg00", *requirements]
            changed_tools = [
                ("ours", ours),
                ("aws", aws),
                ("uv", uv_changed),
                ("ours-http", ours_http),
                ("warm", warm),
                ("warm-http", warm_http),
            ]
            for name, command in changed_tools:
                elapsed, out = run_tool(name, command, work, f"changed/{name}")
                add(f"changed/{name}", elapsed)
                if name == "ours":
                    summary = json.loads(out)
                    requests["changed/ours"] = summary["requests"]
                    requests["changed/ours downloaded"] = summary["downloaded"]
                    assert summary["upgraded"] == {"pkg00": [f"1.0.{r}", f"1.0.{r + 1}"]}
        # in-process no-op: a worker calling sync() before each job
        last = work / f"round{rounds - 1}" / "ours"
        sync(requirements, index=index, plugin_dir=last)
        times = []
        for _ in range(200):
            started = time.perf_counter()
            result = sync(requirements, index=index, plugin_dir=last)
            times.append(time.perf_counter() - started)
            assert result.requests == 1
        results["noop/in-process"] = times
        # request counts of the baselines, through a counting proxy
        probe = work / "probe"
        requests["cold/aws"] = count_requests(
            server.endpoint,
            [AWS, "s3", "sync", f"s3://{bucket}/tree", str(probe / "aws"), "--only-show-errors"],
        )
        requests["noop/aws"] = count_requests(
            server.endpoint,
            [AWS, "s3", "sync", f"s3://{bucket}/tree", str(probe / "aws"), "--only-show-errors"],
        )
        requests["noop/ours (counted by proxy)"] = count_requests(
            server.endpoint,
            [CLI, "sync", *requirements, "--index", index, "--plugin-dir", str(last), "--json"],
        )
    server.delete_bucket(bucket)
    return {"files": files, "times": results, "requests": requests}


RSS_LAUNCHER = """
import resource, subprocess, sys
subprocess.run(sys.argv[1:], stdout=subprocess.DEVNULL, check=True)
print(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
"""


WARM_WORKER = """
import sys, time
from dioptra_plugins import sync
from dioptra_plugins.index.connections import shared_connections
# What a worker that synced before has imported and made: the install path and the client.
import dioptra_plugins.bundle.extract, dioptra_plugins.syncing.choose
import dioptra_plugins.syncing.install, dioptra_plugins.syncing.changes
index, scratch, warm_up, plugin_dir, *requirements = sys.argv[1:]
shared_connections().open(index).get("index.json")
if warm_up != "-":  # one earlier sync of one package: lazy imports and regexes done too
    sync([warm_up], index=index, plugin_dir=scratch)
started = time.perf_counter()
sync(requirements, index=index, plugin_dir=plugin_dir)
print(time.perf_counter() - started)
"""

IMPORTS = "import click, urllib3, packaging.specifiers, packaging.metadata, resolvelib, installer"


def run_tool(name: str, command: list[str], work: Path, key: str) -> tuple[float, str]:
    """One timed run of tool ``name`` with fresh directories; a warm worker's time is that of
    its ``sync()`` call alone.  Returns (seconds, stdout)."""
    elapsed, out = timed(with_fresh_dirs(command, work), cpu_key=key)
    return (warm_seconds(out) if name.startswith("warm") else elapsed), out


def warm_seconds(stdout: str) -> float:
    """The seconds of ``sync()`` a WARM_WORKER printed last."""
    return float(stdout.strip().splitlines()[-1])


def with_fresh_dirs(command: list[str], work: Path) -> list[str]:
    """``command`` with its placeholders replaced by fresh directories: ``CACHE`` (uv's empty
    cache) and ``SCRATCH`` (a warm worker's warm-up plugin dir)."""
    fresh = {"CACHE": "uv-cache-", "SCRATCH": "scratch-"}
    return [
        tempfile.mkdtemp(prefix=fresh[part], dir=work) if part in fresh else part
        for part in command
    ]


def bench_big(server: s3servers.S3Server, work: Path, size_mb: int) -> dict[str, Any]:
    import boto3

    from dioptra_plugins.bundle.build import build_bundle
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish

    package = work / "big" / "bigdata"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('VERSION = "1.0.0"\n')
    with (package / "weights.bin").open("wb") as out:
        for _ in range(size_mb):
            out.write(os.urandom(1024 * 1024))
    wheel = build_bundle(package, work / "big-wheels", version="1.0.0")
    size = wheel.stat().st_size
    bucket = server.create_bucket("big")
    index = f"s3://{bucket}/plugins"
    publish(open_storage(index), [wheel])
    key = f"plugins/bundles/bigdata/{wheel.name}"
    client = boto3.session.Session().client("s3")

    def raw_get() -> float:
        started = time.perf_counter()
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        while body.read(1024 * 1024):
            pass
        return time.perf_counter() - started

    def raw_hash() -> float:
        started = time.perf_counter()
        digest = hashlib.sha256()
        with wheel.open("rb") as stream:
            while chunk := stream.read(1024 * 1024):
                digest.update(chunk)
        return time.perf_counter() - started

    weights = package / "weights.bin"

    def raw_write(durable: bool) -> float:
        """One write of the extracted bytes (the weights file) to a new file; fsynced or not."""
        target = work / "raw-write.bin"
        with weights.open("rb") as stream:
            data = stream.read()  # read first: the floor is the write alone
        started = time.perf_counter()
        descriptor = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            view = memoryview(data)
            while view:
                view = view[os.write(descriptor, view[: 1024 * 1024]) :]
            if durable:
                os.fsync(descriptor)
        finally:
            os.close(descriptor)
        elapsed = time.perf_counter() - started
        target.unlink()
        return elapsed

    gets, hashes, writes, durable_writes, ours, rss, warm = [], [], [], [], [], [], []
    ours_cpu: list[float] = []
    server_cpu: list[float] = []
    for r in range(3):
        gets.append(raw_get())
        hashes.append(raw_hash())
        writes.append(raw_write(durable=False))
        durable_writes.append(raw_write(durable=True))
        plugin_dir = work / "big-plugins" / str(r)
        cpu_before, server_before = children_cpu(), process_cpu(server.pid)
        started = time.perf_counter()
        # Measured through a small launcher: a child forked from this (large) process would
        # report this process's peak RSS as its own (Linux accounts the fork's shared pages).
        done = subprocess.run(
            [
                sys.executable,
                "-c",
                RSS_LAUNCHER,
                CLI,
                "sync",
                "bigdata",
                "--index",
                index,
                "--plugin-dir",
                str(plugin_dir),
                "--json",
            ],
            capture_output=True,
            text=True,
            check=True,
        )
        ours.append(time.perf_counter() - started)
        ours_cpu.append(children_cpu() - cpu_before)
        server_cpu.append(process_cpu(server.pid) - server_before)
        rss.append(int(done.stdout.strip().splitlines()[-1]) / 1024)
        shutil.rmtree(plugin_dir, ignore_errors=True)
        timed_warm = subprocess.run(
            [sys.executable, "-c", WARM_WORKER, index, "-", "-", str(plugin_dir), "bigdata"],
            capture_output=True,
            text=True,
            check=True,
        )
        warm.append(warm_seconds(timed_warm.stdout))
        shutil.rmtree(plugin_dir, ignore_errors=True)
    server.delete_bucket(bucket)
    return {
        "size": size,
        "get": gets,
        "hash": hashes,
        "write": writes,
        "durable_write": durable_writes,
        "ours": ours,
        "rss_mb": rss,
        "warm": warm,
        "ours_cpu": ours_cpu,
        "server_cpu": server_cpu,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--skip-big", action="store_true")
    parser.add_argument("--big-mb", type=int, default=500)
    parser.add_argument("--only-big", action="store_true", help="Run only the big-bundle case.")
    args = parser.parse_args()
    # Big objects need SeaweedFS volumes larger than the tests' tiny ones.
    s3servers.SEAWEEDFS_VOLUME_SIZE_LIMIT_MB = 1024
    with tempfile.TemporaryDirectory(prefix="bench-sync-") as tmp:
        work = Path(tmp)
        with s3servers.running_seaweedfs(
            work / "seaweedfs",
            access_key="bench-key",
            secret_key="bench-secret",
        ) as server:
            os.environ.update(server.env())
            report = (
                None if args.only_big else bench_workload(server, work / "workload", args.rounds)
            )
            big = None if args.skip_big else bench_big(server, work / "bigwork", args.big_mb)
    print_report(report, big)


def print_report(report: dict[str, Any] | None, big: dict[str, Any] | None) -> None:
    if report is not None:
        print_workload(report)
    if big:
        mb = big["size"] / 1024**2

        def floor_ratio(write_key: str, ours_key: str = "ours") -> str:
            floors = [
                max(g, h, w)
                for g, h, w in zip(big["get"], big["hash"], big[write_key], strict=True)
            ]
            speed = [f / o for f, o in zip(floors, big[ours_key], strict=True)]
            return f"median {median(speed):.2f} (runs {', '.join(f'{v:.2f}' for v in speed)})"

        cores = os.cpu_count() or 1
        both = [c + w for c, w in zip(big["ours_cpu"], big["server_cpu"], strict=True)]
        busy = median(both) / (cores * median(big["ours"]))
        print(
            f"big bundle {mb:.0f} MB: raw GET {fmt(median(big['get']))}, sha256 "
            f"{fmt(median(big['hash']))}, write {fmt(median(big['write']))}, write+fsync "
            f"{fmt(median(big['durable_write']))}, ours {fmt(median(big['ours']))} (runs "
            f"{', '.join(fmt(v) for v in big['ours'])})\n"
            f"  speed / floor (slowest of GET, sha256, write): {floor_ratio('write')}\n"
            f"  speed / floor with the write fsynced: {floor_ratio('durable_write')}\n"
            f"  in a warm worker (imports and client ready): {fmt(median(big['warm']))} (runs "
            f"{', '.join(fmt(v) for v in big['warm'])}), speed / floor "
            f"{floor_ratio('write', 'warm')}\n"
            f"  CPU of a CLI run: ours {median(big['ours_cpu']):.2f} s, SeaweedFS "
            f"{median(big['server_cpu']):.2f} s, against {cores} cores x "
            f"{median(big['ours']):.2f} s wall: {busy:.0%} busy\n"
            f"  peak RSS of the sync process {max(big['rss_mb']):.0f} MB "
            f"(runs {', '.join(f'{v:.0f}' for v in big['rss_mb'])})"
        )


def print_workload(report: dict[str, Any]) -> None:
    times, requests = report["times"], report["requests"]
    print(
        f"workload: {PACKAGES} bundles, {report['files']} files; rounds: {len(times['cold/ours'])}"
    )
    for key in sorted(times):
        print(
            f"  {key:22s} median {fmt(median(times[key]))}  runs "
            + ", ".join(fmt(t) for t in times[key][:8])
        )

    def ratios(a: str, b: str) -> str:
        values = [x / y for x, y in zip(times[a], times[b], strict=True)]
        return f"median {median(values):.2f} (runs {', '.join(f'{v:.2f}' for v in values)})"

    print(f"  cold ours/uv      {ratios('cold/ours', 'cold/uv')}")
    print(f"  cold ours/uv-compile {ratios('cold/ours', 'cold/uv-compile')}")
    print(f"  cold ours-http/uv {ratios('cold/ours-http', 'cold/uv')}")
    print(f"  cold ours-http/uv-compile {ratios('cold/ours-http', 'cold/uv-compile')}")
    print(f"  changed ours-http/uv {ratios('changed/ours-http', 'changed/uv')}")
    print(f"  noop ours-http/bare {ratios('noop/ours-http', 'noop/bare')}")
    print(f"  cold ours/aws     {ratios('cold/ours', 'cold/aws')}")
    print(f"  noop ours/bare    {ratios('noop/ours', 'noop/bare')}")
    print(f"  noop ours/aws     {ratios('noop/ours', 'noop/aws')}")
    print(f"  changed ours/aws  {ratios('changed/ours', 'changed/aws')}")
    print(f"  changed ours/uv   {ratios('changed/ours', 'changed/uv')}")
    print(f"  cold warm-http/uv-compile {ratios('cold/warm-http', 'cold/uv-compile')}")
    print(f"  cold warm/uv-compile {ratios('cold/warm', 'cold/uv-compile')}")
    print(f"  cold warm-http/uv {ratios('cold/warm-http', 'cold/uv')}")
    print(f"  changed warm-http/uv {ratios('changed/warm-http', 'changed/uv')}")
    print(f"  changed warm/uv {ratios('changed/warm', 'changed/uv')}")
    print(f"  imports alone/uv changed {ratios('imports', 'changed/uv')}")
    print("  CPU seconds (user + system, with children), median:")
    for key in sorted(CPU):
        print(f"    {key:22s} {median(CPU[key]):.2f}")
    print(f"  requests {json.dumps(requests)}")


if __name__ == "__main__":
    main()
