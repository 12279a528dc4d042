"""A fleet starting cold at once (issue 26's fleet target): N workers, one index.

Each worker is a real ``dioptra-plugins sync --json`` process with its own empty plugin dir;
all N start at the same moment against one index holding --bundles bundles (bench_sync.py's
packages), served

- over HTTP by a fair static server that sends ETags and answers 304, run as a process of its
  own so that its CPU can be read (``/proc/<pid>/stat``), and that counts what it answered;
- from S3 by a loopback SeaweedFS (its CPU read the same way).

Reported per source: time until the last worker is done (and p50/p99 of the workers' times),
requests per worker (each worker's own count from its ``--json`` summary; for HTTP also the
server's count), server CPU seconds per worker, and worker CPU seconds per worker (every
descendant, bytecode helpers included: this process adopts orphans, see processes.py).  With
--noop M, M concurrent no-op syncs follow (every worker already synced): what a fleet's
periodic syncs cost the server.

Run: .venv/bin/python bench/bench_fleet.py [--workers 200] [--bundles 10] [--sources http s3]
     [--noop 0]     (--quick: 4 workers, 2 bundles: a smoke run)
"""

from __future__ import annotations

import argparse
import datetime
import functools
import hashlib
import http.server
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any, ClassVar

sys.path.insert(0, str(Path(__file__).resolve().parent))

from bench_sync import write_package
from fairserver import FairHTTPServer
from plots import save_results
from processes import become_subreaper, children_cpu, process_cpu, reap_orphans

CLI = str(Path(sys.executable).parent / "dioptra-plugins")
COUNTS_PATH = "/__counts"  # the server's counters, as JSON; reset by each read


class CountingETagHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    # Shared by the server's threads: what was answered, by status, and the body bytes sent.
    counts: ClassVar[dict[int, int]] = {}
    body_bytes: ClassVar[list[int]] = [0]
    lock = threading.Lock()

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        if self.path == COUNTS_PATH:
            with self.lock:
                report = {"counts": dict(self.counts), "body_bytes": self.body_bytes[0]}
                self.counts.clear()
                self.body_bytes[0] = 0
            body = json.dumps(report).encode()
            self.send_response(200)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
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


def serve(directory: str) -> None:
    """The server process: serve ``directory``, print the port, run until killed."""
    handler = functools.partial(CountingETagHandler, directory=directory)
    server = FairHTTPServer(("127.0.0.1", 0), handler)
    print(server.server_address[1], flush=True)
    server.serve_forever()


@contextmanager
def http_index(directory: Path) -> Iterator[tuple[str, int]]:
    """The counting server in a process of its own; yields (url, pid)."""
    process = subprocess.Popen(
        [sys.executable, __file__, "--serve", str(directory)],
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        port = int(process.stdout.readline())
        yield f"http://127.0.0.1:{port}", process.pid
    finally:
        process.terminate()
        process.wait()


def server_counts(url: str) -> dict[str, Any]:
    with urllib.request.urlopen(url + COUNTS_PATH) as response:  # loopback only
        return json.loads(response.read())  # type: ignore[no-any-return]


def run_workers(commands: list[list[str]]) -> tuple[list[float], list[dict[str, Any]]]:
    """Start every command at once; each one's time until done and its ``--json`` summary."""
    started = time.perf_counter()
    processes = [
        subprocess.Popen(c, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for c in commands
    ]
    times, summaries = [], []
    for process in processes:
        out, err = process.communicate()
        if process.returncode != 0:
            raise RuntimeError(f"a worker failed: {err.decode()[-1000:]}")
        times.append(time.perf_counter() - started)
        summaries.append(json.loads(out))
    return times, summaries


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(fraction * (len(ordered) - 1)))]


def fleet_run(
    commands: list[list[str]], server_pid: int, keep: list[int], url: str | None
) -> dict[str, Any]:
    """One wave of workers at once: times, requests, server and worker CPU per worker."""
    reap_orphans(keep)
    if url is not None:
        server_counts(url)  # reset
    server_before, workers_before = process_cpu(server_pid), children_cpu()
    times, summaries = run_workers(commands)
    reap_orphans(keep)
    server_cpu, worker_cpu = process_cpu(server_pid) - server_before, children_cpu()
    worker_cpu -= workers_before
    requests = [int(summary["requests"]) for summary in summaries]
    count = len(commands)
    result: dict[str, Any] = {
        "workers": count,
        "last_done_s": max(times),
        "p50_s": statistics.median(times),
        "p99_s": percentile(times, 0.99),
        "requests_per_worker": statistics.mean(requests),
        "requests_per_worker_max": max(requests),
        "server_cpu_per_worker_s": server_cpu / count,
        "worker_cpu_per_worker_s": worker_cpu / count,
    }
    if url is not None:
        counted = server_counts(url)
        result["server_responses"] = counted["counts"]
        result["server_responses_per_worker"] = sum(counted["counts"].values()) / count
        result["server_body_mb"] = counted["body_bytes"] / 1e6
    return result


def print_row(label: str, result: dict[str, Any]) -> None:
    served = (
        f", server answered {result['server_responses_per_worker']:.1f}/worker "
        f"({result['server_responses']}, {result['server_body_mb']:.1f} MB of bodies)"
        if "server_responses" in result
        else ""
    )
    print(
        f"| {label} | {result['workers']} workers | last done {result['last_done_s']:.1f} s "
        f"(p50 {result['p50_s']:.2f} s, p99 {result['p99_s']:.2f} s) | "
        f"{result['requests_per_worker']:.1f} requests/worker (max "
        f"{result['requests_per_worker_max']}){served} | server CPU "
        f"{result['server_cpu_per_worker_s'] * 1000:.1f} ms/worker | worker CPU "
        f"{result['worker_cpu_per_worker_s']:.2f} s/worker |",
        flush=True,
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", "--cold", type=int, default=200)
    parser.add_argument("--bundles", type=int, default=10)
    parser.add_argument("--sources", nargs="+", choices=["http", "s3"], default=["http", "s3"])
    parser.add_argument("--noop", type=int, default=0, help="then M concurrent no-op syncs")
    parser.add_argument("--quick", action="store_true", help="4 workers, 2 bundles; not saved")
    parser.add_argument("--serve", help=argparse.SUPPRESS)  # the HTTP server process
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return
    if args.quick:
        args.workers, args.bundles, args.noop = 4, 2, min(args.noop, 4)
    print(f"load average {os.getloadavg()[0]:.2f} (1 min) on {os.cpu_count()} cores")
    become_subreaper()
    work = Path(tempfile.mkdtemp(prefix="bench-fleet-"))
    try:
        results = run(work, args)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if not args.quick:
        results["meta"] = {
            "date": datetime.date.today().isoformat(),
            "load_average": os.getloadavg()[1],
            "cores": os.cpu_count(),
        }
        print(f"results: {save_results('fleet.json', results)}")


def run(work: Path, args: argparse.Namespace) -> dict[str, Any]:
    from dioptra_plugins.bundle.build import build_bundle
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish

    names = [f"pkg{i:03d}" for i in range(args.bundles)]
    wheels = [
        build_bundle(write_package(work / "src" / n, n, "1.0.0"), work / "wheels", version="1")
        for n in names
    ]
    results: dict[str, Any] = {"bundles": args.bundles}
    with ExitStack() as stack:
        indexes: list[tuple[str, str, int, str | None]] = []  # source, index, server pid, url
        if "http" in args.sources:
            index_dir = work / "index"
            publish(open_storage(str(index_dir)), wheels)
            http_url, http_pid = stack.enter_context(http_index(index_dir))
            indexes.append(("HTTP", http_url, http_pid, http_url))
        if "s3" in args.sources:
            from seaweed import seaweedfs_bucket

            s3_index, server = seaweedfs_bucket(stack, work, "fleet")
            publish(open_storage(s3_index), wheels)
            assert server.pid is not None
            indexes.append(("S3", s3_index, server.pid, None))
        keep = [pid for _, _, pid, _ in indexes]
        for source, index, pid, url in indexes:

            def command(number: int, index: str = index, source: str = source) -> list[str]:
                plugin_dir = work / "workers" / source / f"w{number:03d}"
                return [CLI, "sync", *names, "--index", index, "--plugin-dir", str(plugin_dir)]

            cold = fleet_run([[*command(n), "--json"] for n in range(args.workers)], pid, keep, url)
            print_row(f"cold start at once, {args.bundles} bundles each, {source}", cold)
            results[f"cold/{source}"] = cold
            if args.noop:
                for n in range(args.workers, args.noop):  # the rest get a first generation
                    subprocess.run(command(n), check=True, capture_output=True)
                noop = fleet_run(
                    [[*command(n), "--json"] for n in range(args.noop)], pid, keep, url
                )
                print_row(f"concurrent no-op syncs, {source}", noop)
                results[f"noop/{source}"] = noop
    return results


if __name__ == "__main__":
    main()
