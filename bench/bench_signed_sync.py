"""What verifying a signed index costs a sync (issue 14).

Workload: bench_sync's 40 plugin packages x 25 modules (about 1,000 files), published with the
same bytes to two buckets of one loopback SeaweedFS: one unsigned, one signed (``index init
--signed``, ``publish --keys``).  Scenarios, interleaved per round (the order alternates):

- cold: ``dioptra-plugins sync`` of all 40 into an empty plugin dir (CLI wall time), unsigned vs
  ``--trust ROOT.json``;
- cold in-process: the same through ``sync()`` in this process;
- no-op in-process: ``sync()`` again with nothing new (median of 200 each);
- publish: one more bundle, ``publish`` vs ``publish --keys`` (CLI wall time and requests).

Run: .venv/bin/python bench/bench_signed_sync.py [--rounds 5]
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
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from bench_sync import build_all, write_package  # noqa: E402

import s3servers  # noqa: E402

CLI = str(Path(sys.executable).parent / "dioptra-plugins")


def run(*args: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    done = subprocess.run([CLI, *args, "--json"], capture_output=True, text=True, check=False)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise RuntimeError(f"{args[:2]} failed: {done.stderr[-2000:]}")
    return elapsed, json.loads(done.stdout)


def median(values: list[float]) -> float:
    return statistics.median(values)


def ms(seconds: float) -> str:
    return f"{seconds * 1000:.0f} ms"


def bench(server: s3servers.S3Server, work: Path, rounds: int) -> dict[str, Any]:
    from dioptra_plugins.bundle.build import build_bundle
    from dioptra_plugins.index.connections import shared_connections
    from dioptra_plugins.syncing import engine

    wheels, _changed, _trees = build_all(work, 0)
    plain = f"s3://{server.create_bucket('plain')}/plugins"
    signed = f"s3://{server.create_bucket('signed')}/plugins"
    keys = work / "keys"
    run("keys", "generate", str(keys))
    run("index", "init", plain)
    run("index", "init", signed, "--signed", "--keys", str(keys))
    names = [w.name.split("-")[0] for w in wheels]
    run("publish", *map(str, wheels), "--index", plain)
    run("publish", *map(str, wheels), "--index", signed, "--keys", str(keys))
    trust = keys / "root.json"

    cold: dict[str, list[float]] = {"plain": [], "signed": []}
    cold_requests: dict[str, int] = {}
    inproc: dict[str, list[float]] = {"plain": [], "signed": []}
    for number in range(rounds):
        order = ["plain", "signed"] if number % 2 == 0 else ["signed", "plain"]
        for which in order:
            target = work / f"cli-{which}-{number}"
            extra = ["--trust", str(trust)] if which == "signed" else []
            url = signed if which == "signed" else plain
            elapsed, result = run("sync", *names, "--index", url, "--plugin-dir", str(target),
                                  *extra)  # fmt: skip
            cold[which].append(elapsed)
            cold_requests[which] = result["requests"]
            shutil.rmtree(target)
        for which in order:
            target = work / f"lib-{which}-{number}"
            shared_connections().close()
            url = signed if which == "signed" else plain
            started = time.perf_counter()
            engine.sync(names, index=url, plugin_dir=target,
                        trust=trust if which == "signed" else None)  # fmt: skip
            inproc[which].append(time.perf_counter() - started)
            if number < rounds - 1:
                shutil.rmtree(target)
    noop: dict[str, list[float]] = {"plain": [], "signed": []}
    noop_requests: dict[str, int] = {}
    for which in ("plain", "signed"):
        target = work / f"lib-{which}-{rounds - 1}"
        url = signed if which == "signed" else plain
        for _ in range(200):
            started = time.perf_counter()
            outcome = engine.sync(names, index=url, plugin_dir=target,
                                  trust=trust if which == "signed" else None)  # fmt: skip
            noop[which].append(time.perf_counter() - started)
            noop_requests[which] = outcome.requests
    # Verification alone: a cold SignedStorage (no trusted metadata kept yet) reading the root.
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.signing.trust import SignedStorage

    verify_times = []
    storage = open_storage(signed)
    before = storage.requests
    for _ in range(50):
        started = time.perf_counter()
        SignedStorage.wrap(storage, trust, None).get("index.json")
        verify_times.append(time.perf_counter() - started)
    verify_requests = (storage.requests - before) // 50
    extra_pkg = build_bundle(
        write_package(work / "src" / "extra", "pkgextra", "1.0.0"), work / "wheels-extra",
        version="1.0.0",
    )  # fmt: skip
    publish_plain, plain_result = run("publish", str(extra_pkg), "--index", plain)
    publish_signed, signed_result = run(
        "publish", str(extra_pkg), "--index", signed, "--keys", str(keys)
    )
    return {
        "cold": {k: median(v) for k, v in cold.items()},
        "cold_runs": cold,
        "cold_requests": cold_requests,
        "inproc": {k: median(v) for k, v in inproc.items()},
        "noop": {k: median(v) for k, v in noop.items()},
        "noop_requests": noop_requests,
        "verify": median(verify_times),
        "verify_requests": verify_requests,
        "publish": {"plain": publish_plain, "signed": publish_signed},
        "publish_requests": {
            "plain": plain_result["requests"],
            "signed": signed_result["requests"],
        },
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-signed-") as tmp:
        work = Path(tmp)
        with s3servers.running_seaweedfs(
            work / "seaweedfs", access_key="bench-key", secret_key="bench-secret"
        ) as server:
            os.environ.update(server.env())
            report = bench(server, work / "workload", args.rounds)
    cold, inproc, noop = report["cold"], report["inproc"], report["noop"]
    print(
        f"cold sync (CLI): unsigned {ms(cold['plain'])}, signed {ms(cold['signed'])} "
        f"(+{ms(cold['signed'] - cold['plain'])}, x{cold['signed'] / cold['plain']:.2f}); "
        f"requests {report['cold_requests']['plain']} vs {report['cold_requests']['signed']}"
    )
    print(f"  runs: {report['cold_runs']}")
    print(
        f"cold sync (in-process): unsigned {ms(inproc['plain'])}, signed {ms(inproc['signed'])} "
        f"(+{ms(inproc['signed'] - inproc['plain'])})"
    )
    print(
        f"no-op sync (in-process, median of 200): unsigned {noop['plain'] * 1000:.1f} ms "
        f"({report['noop_requests']['plain']} request), signed {noop['signed'] * 1000:.1f} ms "
        f"({report['noop_requests']['signed']} requests)"
    )
    print(
        f"verification alone (cold, in-process, median of 50): {report['verify'] * 1000:.1f} ms, "
        f"{report['verify_requests']} requests"
    )
    print(
        f"publish one bundle (CLI): unsigned {ms(report['publish']['plain'])} "
        f"({report['publish_requests']['plain']} requests), signed "
        f"{ms(report['publish']['signed'])} ({report['publish_requests']['signed']} requests)"
    )


if __name__ == "__main__":
    main()
