"""Fixed cost of a fresh ``dioptra-plugins`` process (issue 26): start-up and no-op syncs.

Every case is a fresh process, timed by wall clock, after one warm-up, in interleaved
repetitions (each repetition runs every case once, in a shuffled order from a seeded RNG):

- ``python``: a bare ``python -c pass`` (the interpreter's own floor);
- ``--help`` and ``--version`` of the console script;
- ``noop-local``: ``sync`` of an up-to-date plugin dir from a local index;
- ``noop-http``: the same over HTTP from a fair static server on 127.0.0.1 (listen queue 1024,
  HTTP/1.1 keep-alive, TCP_NODELAY: bench/fairserver.py);
- ``noop-s3``: the same from S3 (SeaweedFS on loopback, or moto with ``--s3 moto``);
- ``import-click`` and ``click+urllib3-GET``: floors of the libraries the CLI and the HTTP
  index are made with (a python that imports click; one that also makes the GET with urllib3);
- ``bare-boto3``: a bare python that imports boto3 and makes the one conditional GET a no-op
  sync makes (the issue's S3 floor).

Per case it prints the median and the ratio per repetition (noop-s3 / bare-boto3), the load
average before and after, and the number of modules each command leaves in ``sys.modules``
and the number ``python -X importtime`` reports (deterministic, unlike the times); then the
``-X importtime`` sums, medians of ``--importtime-runs`` runs: every module's own (self) time,
and the library's own modules' (``dioptra_plugins.*``).  importtime does not see a module
imported by ``importlib.import_module`` (the CLI's command modules): their children count,
their own bodies do not.

``--before COMMIT`` also runs every dioptra-plugins case from that commit's ``src/`` (a
``git archive`` put first on PYTHONPATH), interleaved with the "after" cases, so "before" and
"after" share one run's load.  "After" is the working tree, or ``--after COMMIT``'s ``src/``
(so that other people's uncommitted edits in a shared work tree stay out of the comparison).

Run: .venv/bin/python bench/bench_startup.py [--rounds 15] [--s3 seaweedfs|moto]
     [--before 0059af6] [--after fd60dfe] [--importtime-runs 7]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tests"))
sys.path.insert(0, str(ROOT / "bench"))

from fairserver import serve_directory  # noqa: E402

import s3servers  # noqa: E402
from wheelfactory import WheelSpec  # noqa: E402

PYTHON = sys.executable

# The console script's own entry point (signal handlers first), run by ``python -c`` so that a
# "before" tree on PYTHONPATH is the one imported; with a file name it also writes the names in
# sys.modules at exit.
LAUNCHER = """
import sys
out = sys.argv[1]
if out != "-":
    import atexit
    def dump():
        with open(out, "w") as f:
            f.write("\\n".join(sorted(sys.modules)))
    atexit.register(dump)
sys.argv = ["dioptra-plugins", *sys.argv[2:]]
from dioptra_plugins.cli.entry import main
main()
"""


# The launcher again, with the time ``dataclasses`` spends creating each class summed per module
# (its private ``_process_class`` does all the work of ``@dataclass``; measuring only, in a
# bench) and written as JSON at exit: how much of a command's import time is class creation.
DATACLASS_PROBE = """
import atexit, dataclasses, json, sys, time
out = sys.argv[1]
spent = {}
original = dataclasses._process_class
def timed(cls, *args, **kwargs):
    started = time.perf_counter()
    try:
        return original(cls, *args, **kwargs)
    finally:
        seconds, count = spent.get(cls.__module__, (0.0, 0))
        spent[cls.__module__] = (seconds + time.perf_counter() - started, count + 1)
dataclasses._process_class = timed
atexit.register(lambda: open(out, "w").write(json.dumps(spent)))
sys.argv = ["dioptra-plugins", *sys.argv[2:]]
from dioptra_plugins.cli.entry import main
main()
"""


def dataclass_share(
    command: list[str], env: dict[str, str], work: Path, runs: int
) -> dict[str, tuple[float, int]]:
    """Per module, (median ms, classes) that creating dataclasses took in ``runs`` runs of a
    dioptra-plugins case (``[PYTHON, -c, LAUNCHER, -, ...]``)."""
    out = work / "dataclasses.json"
    seconds: dict[str, list[float]] = {}
    classes: dict[str, int] = {}
    for _ in range(runs):
        probe = [PYTHON, "-c", DATACLASS_PROBE, str(out), *command[4:]]
        subprocess.run(probe, check=True, env=env, capture_output=True)
        for module, (spent, count) in json.loads(out.read_text()).items():
            seconds.setdefault(module, []).append(spent)
            classes[module] = count
    return {
        module: (statistics.median(values) * 1000, classes[module])
        for module, values in seconds.items()
    }


def bare_boto3(bucket: str, key: str, etag: str) -> str:
    return (
        "import boto3, botocore.exceptions as e\n"
        "c = boto3.client('s3')\n"
        "try:\n"
        f"    c.get_object(Bucket={bucket!r}, Key={key!r}, IfNoneMatch={etag!r})\n"
        "except e.ClientError:\n"
        "    pass\n"
    )


def click_urllib3(url: str) -> str:
    return (
        "import click, urllib3\n"
        f"urllib3.PoolManager().request('GET', {url + '/index.json'!r}, retries=False)\n"
    )


def load() -> str:
    return " ".join(f"{x:.2f}" for x in os.getloadavg())


def run(command: list[str], env: dict[str, str]) -> float:
    started = time.perf_counter()
    subprocess.run(command, check=True, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    return time.perf_counter() - started


def module_counts(command: list[str], env: dict[str, str], work: Path) -> tuple[int, int]:
    """(names in sys.modules at exit, lines of ``-X importtime``) for one run of ``command``:
    a dioptra-plugins case (``[PYTHON, -c, LAUNCHER, -, ...]``) or a bare ``python -c``."""
    out = work / "modules.txt"
    if command[2] == LAUNCHER:
        counted = [*command[:3], str(out), *command[4:]]
    else:  # a bare script: dump its modules the same way
        dump = f"import sys\n{command[2]}\nopen({str(out)!r}, 'w').write('\\n'.join(sys.modules))"
        counted = [PYTHON, "-c", dump]
    subprocess.run(counted, check=True, env=env, capture_output=True)
    in_sys_modules = len(out.read_text().split())
    return in_sys_modules, len(import_times(counted, env))


def import_times(command: list[str], env: dict[str, str]) -> list[tuple[str, int]]:
    """(module, self microseconds) of every line ``python -X importtime`` prints for
    ``command`` (``[PYTHON, ...]``)."""
    traced = subprocess.run(
        [PYTHON, "-X", "importtime", *command[1:]], check=True, env=env, capture_output=True
    )
    times = []
    for line in traced.stderr.decode().splitlines():
        if not line.startswith("import time:") or "self [us]" in line:
            continue
        fields = line.removeprefix("import time:").split("|")
        if len(fields) == 3:
            times.append((fields[2].strip(), int(fields[0])))
    return times


def import_sums(
    cases: dict[str, tuple[list[str], dict[str, str]]], runs: int
) -> dict[str, tuple[float, float]]:
    """Per case, the medians over ``runs`` interleaved runs of the ``-X importtime`` self times
    summed (ms): of every module, and of the library's own (``dioptra_plugins``)."""
    sums: dict[str, list[tuple[float, float]]] = {name: [] for name in cases}
    for _ in range(runs):
        for name, (command, case_env) in cases.items():
            times = import_times(command, case_env)
            ours = sum(us for module, us in times if module.split(".")[0] == "dioptra_plugins")
            sums[name].append((sum(us for _, us in times) / 1000, ours / 1000))
    return {
        name: (
            statistics.median(total for total, _ in values),
            statistics.median(ours for _, ours in values),
        )
        for name, values in sums.items()
    }


def source_tree(commit: str, work: Path, label: str) -> str:
    """``commit``'s ``src/``, unpacked under ``work`` by ``git archive``."""
    target = work / label
    target.mkdir()
    archive = subprocess.run(
        ["git", "-C", str(ROOT), "archive", commit, "src"], check=True, capture_output=True
    ).stdout
    archive_path = work / f"{label}.tar"
    archive_path.write_bytes(archive)
    with tarfile.open(archive_path) as tar:
        tar.extractall(target, filter="data")
    return str(target / "src")


@contextlib.contextmanager
def s3_server(kind: str, work: Path) -> Iterator[s3servers.S3Server]:
    if kind == "moto":
        with s3servers.running_moto() as server:
            yield server
    else:
        with s3servers.running_seaweedfs(
            work / "seaweedfs", access_key="bench-key", secret_key="bench-secret"
        ) as server:
            yield server


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--s3", choices=["seaweedfs", "moto"], default="seaweedfs")
    parser.add_argument("--before", help="also run the CLI cases from this commit's src/")
    parser.add_argument("--after", help="run the CLI cases from this commit's src/, not the tree")
    parser.add_argument("--importtime-runs", type=int, default=7)
    parser.add_argument("--seed", type=int, default=26)
    args = parser.parse_args()

    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish
    from dioptra_plugins.syncing.engine import sync

    with tempfile.TemporaryDirectory(prefix="bench-startup-") as tmp:
        work = Path(tmp)
        trees: dict[str, str | None] = {
            "after": source_tree(args.after, work, "after") if args.after else None
        }
        if args.before:
            trees["before"] = source_tree(args.before, work, "before")

        wheels = work / "wheels"
        wheels.mkdir()
        metadata = "Metadata-Version: 2.1\nName: demo_pkg\nVersion: 1.0\n"
        wheel = WheelSpec(metadata_text=metadata).write(wheels)
        local_index = work / "index"
        publish(open_storage(str(local_index)), [wheel])

        with s3_server(args.s3, work) as server, serve_directory(local_index) as http_url:
            env = {k: v for k, v in os.environ.items() if not k.startswith("DIOPTRA_PLUGINS")}
            env.update(server.env())
            os.environ.update(server.env())
            bucket = server.create_bucket("startup")
            s3_index = f"s3://{bucket}/plugins"
            publish(open_storage(s3_index), [wheel])
            etag = open_storage(s3_index).get("index.json").etag
            indexes = {"noop-local": str(local_index), "noop-http": http_url, "noop-s3": s3_index}

            cases: dict[str, tuple[list[str], dict[str, str]]] = {
                "python": ([PYTHON, "-c", "pass"], env),
                # The floors of our own choices: a CLI made with click; an HTTP index read
                # with urllib3 (one GET of the root, as a no-op sync makes).
                "import-click": ([PYTHON, "-c", "import click"], env),
                "click+urllib3-GET": ([PYTHON, "-c", click_urllib3(http_url)], env),
                "bare-boto3": ([PYTHON, "-c", bare_boto3(bucket, "plugins/index.json", etag)], env),
            }
            for label, src in trees.items():
                tree_env = dict(env)
                if src is not None:
                    tree_env["PYTHONPATH"] = src
                suffix = "" if label == "after" else " (before)"
                cli = [PYTHON, "-c", LAUNCHER, "-"]
                cases["--help" + suffix] = ([*cli, "--help"], tree_env)
                cases["--version" + suffix] = ([*cli, "--version"], tree_env)
                for name, index in indexes.items():
                    plugin_dir = work / f"plugins-{name}-{label}"
                    sync(["demo_pkg"], index=index, plugin_dir=plugin_dir)
                    command = [*cli, "sync", "demo_pkg", "--index", index, "--plugin-dir"]
                    cases[name + suffix] = ([*command, str(plugin_dir)], tree_env)

            counts = {name: module_counts(cmd, e, work) for name, (cmd, e) in cases.items()}
            sums = import_sums(cases, args.importtime_runs)
            created = dataclass_share(*cases["noop-http"], work, args.importtime_runs)
            load_before = load()
            for command, case_env in cases.values():  # warm-up: page cache, bytecode
                run(command, case_env)
            times: dict[str, list[float]] = {name: [] for name in cases}
            rng = random.Random(args.seed)
            order = list(cases)
            for _ in range(args.rounds):
                rng.shuffle(order)
                for name in order:
                    command, case_env = cases[name]
                    times[name].append(run(command, case_env))
            load_after = load()
            server.delete_bucket(bucket)

    print(f"fixed cost, {args.rounds} interleaved repetitions, S3 = {args.s3}")
    print(f"load average before: {load_before}; after: {load_after}")
    print(f"{'case':<22} {'median':>8} {'min':>8}  {'sys.modules':>11} {'importtime':>10}")
    for name in cases:
        median = statistics.median(times[name]) * 1000
        fastest = min(times[name]) * 1000
        modules, traced = counts[name]
        print(f"{name:<22} {median:7.0f}ms {fastest:7.0f}ms  {modules:>11} {traced:>10}")
    for ours, floor in (
        ("noop-s3", "bare-boto3"),
        ("noop-http", "click+urllib3-GET"),
        ("--help", "import-click"),
    ):
        pairs = zip(times[ours], times[floor], strict=True)
        per = statistics.median(a / b for a, b in pairs)
        print(f"{ours} / {floor} per repetition: median {per:.2f}x")
    if args.before:
        for name in ("--help", "--version", "noop-local", "noop-http", "noop-s3"):
            pairs = zip(times[name], times[name + " (before)"], strict=True)
            per = statistics.median(a / b for a, b in pairs)
            print(f"{name} after / before per repetition: median {per:.2f}x")
    print(f"-X importtime, self times summed, median of {args.importtime_runs} runs:")
    print(f"{'case':<22} {'all':>8} {'dioptra_plugins':>16}")
    for name, (total, ours) in sums.items():
        print(f"{name:<22} {total:6.1f}ms {ours:14.1f}ms")
    total = sum(ms for ms, _ in created.values())
    count = sum(classes for _, classes in created.values())
    print(f"noop-http: creating {count} dataclasses took {total:.1f} ms (median per module):")
    for module, (ms, classes) in sorted(created.items(), key=lambda item: -item[1][0]):
        print(f"  {module:<40} {classes:>3} {ms:6.2f}ms")


if __name__ == "__main__":
    main()
