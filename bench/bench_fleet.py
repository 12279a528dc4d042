"""A fleet against one read-only HTTP index: a cold start of N workers at once, then M
concurrent no-op syncs, each worker a real ``dioptra-plugins sync`` process with its own plugin
dir.  The server (a fair static server that sends ETags and answers 304) counts what it served.

What it shows: a no-op sync costs the server one small response (a 304 without a body), so M
workers' no-ops are M tiny responses; and what a cold start of N workers at once costs in
requests, bytes and time.

Run: .venv/bin/python bench/bench_fleet.py [--cold 50] [--noop 200] [--bundles 10]
"""

from __future__ import annotations

import argparse
import functools
import hashlib
import http.server
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import write_package
from fairserver import FairHTTPServer

CLI = str(Path(sys.executable).parent / "dioptra-plugins")


class CountingETagHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Shared by the server's threads: what was answered, by status, and the body bytes sent.
    counts: ClassVar[dict[int, int]] = {}
    body_bytes: ClassVar[list[int]] = [0]
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.directory, self.path.split("?", 1)[0].lstrip("/"))
        if not path.is_file():
            self._answer(404, b"", {})
            return
        data = path.read_bytes()
        etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
        if self.headers.get("If-None-Match") == etag:
            self._answer(304, b"", {"ETag": etag})
        else:
            self._answer(200, data, {"ETag": etag})

    def _answer(self, status: int, body: bytes, headers: dict[str, str]) -> None:
        with self.lock:
            self.counts[status] = self.counts.get(status, 0) + 1
            self.body_bytes[0] += len(body)
        self.send_response(status)
        for name, value in headers.items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


def run_workers(commands: list[list[str]]) -> list[float]:
    """Start every command at once; each one's wall time (seconds)."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(c, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE) for c in commands
    ]
    times = []
    for process in processes:
        _, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed: {err.decode()[-1000:]}")
        times.append(time.perf_counter() - started)
    return times


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cold", type=int, default=50)
    parser.add_argument("--noop", type=int, default=200)
    parser.add_argument("--bundles", type=int, default=10)
    args = parser.parse_args()
    from dioptra_plugins.bundle.build import build_bundle
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish

    work = Path(tempfile.mkdtemp(dir="/tmp"))
    try:
        names = [f"pkg{i:02d}" for i in range(args.bundles)]
        wheels = [
            build_bundle(write_package(work / "src" / n, n, "1.0.0"), work / "wheels", version="1")
            for n in names
        ]
        index_dir = work / "index"
        publish(open_storage(str(index_dir)), wheels)
        handler = functools.partial(CountingETagHandler, directory=str(index_dir))
        server = FairHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        url = f"http://127.0.0.1:{server.server_address[1]}/"

        def sync_command(number: int) -> list[str]:
            plugin_dir = work / "workers" / f"w{number:03d}"
            return [CLI, "sync", *names, "--index", url, "--plugin-dir", str(plugin_dir), "-q"]

        workers = max(args.cold, args.noop)
        cold = run_workers([sync_command(n) for n in range(args.cold)])
        cold_counts, cold_bytes = (
            dict(CountingETagHandler.counts),
            CountingETagHandler.body_bytes[0],
        )
        if workers > args.cold:  # the rest get their first generation one after another
            for n in range(args.cold, workers):
                subprocess.run(sync_command(n), check=True, capture_output=True)
        CountingETagHandler.counts.clear()
        CountingETagHandler.body_bytes[0] = 0
        noop = run_workers([sync_command(n) for n in range(args.noop)])
        noop_counts, noop_bytes = (
            dict(CountingETagHandler.counts),
            CountingETagHandler.body_bytes[0],
        )
        server.shutdown()
        server.server_close()
    finally:
        shutil.rmtree(work, ignore_errors=True)

    print(
        f"| cold start of {args.cold} workers at once, {args.bundles} bundles each, from one "
        f"HTTP index | {max(cold):.1f} s until the last is done | p50 {statistics.median(cold):.2f}"
        f" s, p99 {percentile(cold, 0.99):.2f} s | {sum(cold_counts.values())} responses "
        f"({cold_counts}), {cold_bytes / 1e6:.1f} MB of bodies |"
    )
    print(
        f"| {args.noop} concurrent no-op syncs (one process each) | {max(noop):.1f} s until the "
        f"last is done | p50 {statistics.median(noop):.2f} s, p99 {percentile(noop, 0.99):.2f} s"
        f" | {sum(noop_counts.values())} responses ({noop_counts}), {noop_bytes} bytes of bodies |"
    )


if __name__ == "__main__":
    main()
