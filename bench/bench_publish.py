"""Publish speed and request counts against ``aws s3 sync`` of the same plugin trees (issue 3).

Workload: 40 generated plugin packages x 25 modules (1,000 files, a few MB), built into
bundles once.  Each round, into fresh buckets of a loopback SeaweedFS:

- ours: ``dioptra-plugins publish <40 wheels> --index s3://<bucket>/plugins`` (verifies every
  wheel, uploads the bundles in parallel with create-only writes, writes 40 project documents,
  swaps the root once, writes the PEP 503 pages);
- baseline: ``aws s3 sync <package trees> s3://<bucket>/tree`` (what a Dioptra deployment does
  today: every file uploaded as its own object, nothing verified, no versions).

Buckets are created and warmed (one write) before timing.  Both are timed as the CLI
commands a user runs (interpreter start-up included), interleaved, with the order alternating
per round; medians and the ratio are printed.  Requests: ours from ``publish --json``
(botocore's before-send hook), aws's counted by a forwarding proxy (tests/faultproxy.py).

With ``--before COMMIT`` the same publish is also timed from that commit's ``src/`` (run by
``python -c`` with it on ``PYTHONPATH``, as ``bench_startup.py --before`` does), interleaved,
so a change is measured against the code before it in one run.

Run: .venv/bin/python bench/bench_publish.py [--rounds 5] [--before COMMIT]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_startup import LAUNCHER, source_tree  # noqa: E402

import s3servers  # noqa: E402

BIN = Path(sys.executable).parent
CLI = str(BIN / "dioptra-plugins")
AWS = str(BIN / "aws")
PACKAGES = 40
MODULES = 25

MODULE = '''"""Module {m} of {pkg}: generated for the publish benchmark."""

from dioptra_plugins.pyplugs import register

TABLE = {table!r}


@register
def task_{m}(x: float, scale: float = 1.0) -> float:
    """Scale x, then add a constant from the table."""
    return x * scale + TABLE[{m} % len(TABLE)]
'''


def write_package(parent: Path, name: str) -> Path:
    package = parent / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('"""A generated plugin package."""\n')
    for m in range(MODULES - 1):
        table = [round(((m * 7919 + k * 104729) % 100_000) / 7.0, 3) for k in range(300)]
        (package / f"mod{m:02d}.py").write_text(MODULE.format(m=m, pkg=name, table=table))
    return package


def build_all(work: Path) -> tuple[list[Path], Path]:
    from dioptra_plugins.bundle.build import build_bundle

    trees = work / "trees"

    def one(number: int) -> Path:
        source = write_package(trees, f"pkg{number:02d}")
        return build_bundle(source, work / "wheels", version="1.0.0")

    with ThreadPoolExecutor(max_workers=2) as pool:
        wheels = list(pool.map(one, range(PACKAGES)))
    return wheels, trees


def timed(command: list[str], env: dict[str, str] | None = None) -> tuple[float, str]:
    started = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{command[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return elapsed, done.stdout


def warm_bucket(server: s3servers.S3Server, prefix: str) -> str:
    """A fresh bucket whose first write already happened.

    SeaweedFS allocates volumes for a new bucket on its first write (about 0.2 s); that is a
    property of the test server, not of either tool, so neither is timed paying it.
    """
    bucket = server.create_bucket(prefix)
    client = server.client()
    client.put_object(Bucket=bucket, Key="warm-up", Body=b"x")
    client.delete_object(Bucket=bucket, Key="warm-up")
    return bucket


def count_aws_requests(endpoint: str, command: list[str]) -> int | None:
    """Requests ``command`` sends, counted by the sync helper's forwarding proxy if present."""
    try:
        from faultproxy import FaultProxy
    except ImportError:
        return None
    with FaultProxy(endpoint) as proxy:
        timed(command, {**os.environ, "AWS_ENDPOINT_URL": proxy.url})
        count: int = proxy.count()
        return count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--before", help="also time the publish from this commit's src/")
    args = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="bench-publish-"))
    try:
        before = source_tree(args.before, work, "before") if args.before else None
        wheels, trees = build_all(work)
        files = sum(1 for path in trees.rglob("*") if path.is_file())
        tree_bytes = sum(path.stat().st_size for path in trees.rglob("*") if path.is_file())
        wheel_bytes = sum(wheel.stat().st_size for wheel in wheels)
        print(
            f"workload: {len(wheels)} bundles ({wheel_bytes / 1e6:.2f} MB), "
            f"{files} files in the trees ({tree_bytes / 1e6:.2f} MB)"
        )
        with s3servers.running_seaweedfs(
            work / "seaweedfs", access_key="bench-key", secret_key="bench-secret"
        ) as server:
            os.environ.update(server.env())
            tools = ["ours", "aws"] + (["before"] if before else [])
            times: dict[str, list[float]] = {tool: [] for tool in tools}
            requests: dict[str, int | None] = dict.fromkeys(tools)
            for round_number in range(args.rounds):
                shift = round_number % len(tools)
                for tool in tools[shift:] + tools[:shift]:
                    bucket = warm_bucket(server, "bench")
                    env = None
                    if tool in ("ours", "before"):
                        command = [
                            CLI, "publish", *map(str, wheels),
                            "--index", f"s3://{bucket}/plugins", "--json",
                        ]  # fmt: skip
                        if tool == "before":
                            command = [sys.executable, "-c", LAUNCHER, "-", *command[1:]]
                            env = {**os.environ, "PYTHONPATH": str(before)}
                    else:
                        command = [
                            AWS, "s3", "sync", str(trees), f"s3://{bucket}/tree",
                            "--only-show-errors",
                        ]  # fmt: skip
                    elapsed, stdout = timed(command, env)
                    times[tool].append(elapsed)
                    if tool in ("ours", "before"):
                        requests[tool] = json.loads(stdout)["requests"]
                    elif requests["aws"] is None:
                        probe = warm_bucket(server, "probe")
                        requests["aws"] = count_aws_requests(
                            server.endpoint, [*command[:4], f"s3://{probe}/tree", command[-1]]
                        )
                        server.delete_bucket(probe)
                    server.delete_bucket(bucket)
                    print(f"round {round_number + 1} {tool:6s} {elapsed * 1000:7.0f} ms")
    finally:
        shutil.rmtree(work, ignore_errors=True)

    ours, aws = statistics.median(times["ours"]), statistics.median(times["aws"])
    print(f"median publish   {ours * 1000:.0f} ms  ({requests['ours']} requests)")
    print(f"median aws sync  {aws * 1000:.0f} ms  ({requests['aws']} requests)")
    print(f"ratio publish/aws = {ours / aws:.2f}  (target <= 0.30)")
    if before:
        then = statistics.median(times["before"])
        per = statistics.median(a / b for a, b in zip(times["before"], times["aws"], strict=True))
        print(f"median publish from {args.before}: {then * 1000:.0f} ms "
              f"({requests['before']} requests); per round against aws: {per:.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
