"""32 real processes publish 160 versions to one index at once: nothing is lost.

Each process publishes 5 versions one by one (2 of a project all of them share, 3 of its own),
so there are 160 root swaps racing each other.  Afterwards every version is present, the root
serial equals the number of successful swaps, and ``check`` finds nothing wrong.
"""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from index_wheels import write_wheel

from dioptra_plugins.index.reading import read_project, read_root
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.check import check_index
from dioptra_plugins.publishing.initialize import init_index

PROCESSES = 32
SHARED = "shared_pkg"

PUBLISHER = textwrap.dedent(
    """
    import json, sys, time
    from pathlib import Path
    from dioptra_plugins.publishing.publish import publish
    from dioptra_plugins.index.url import open_storage

    url, ready, go, *wheels = sys.argv[1:]
    storage = open_storage(url)
    Path(ready).touch()
    while not Path(go).exists():
        time.sleep(0.01)
    swaps = attempts = 0
    for wheel in wheels:
        result = publish(storage, [Path(wheel)])
        swaps += result.swapped
        attempts += result.attempts
    print(json.dumps({"swaps": swaps, "attempts": attempts, "requests": storage.requests}))
    """
)


def versions_of(process: int) -> list[tuple[str, str]]:
    return [
        (SHARED, f"1.{process}.0"),
        (f"own_{process}", "1.0"),
        (SHARED, f"1.{process}.1"),
        (f"own_{process}", "2.0"),
        (f"own_{process}", "3.0"),
    ]


@pytest.fixture(scope="session")
def concurrency_wheels(tmp_path_factory: pytest.TempPathFactory) -> list[list[Path]]:
    """The 160 wheels, written once per session, grouped per process."""
    directory = tmp_path_factory.mktemp("concurrency-wheels")
    return [
        [write_wheel(directory, name, version, tasks=1) for name, version in versions_of(p)]
        for p in range(PROCESSES)
    ]


def test_concurrent_publishers_lose_nothing(
    index_url: str, concurrency_wheels: list[list[Path]], tmp_path: Path
) -> None:
    storage = open_storage(index_url)
    init_index(storage)
    go = tmp_path / "go"
    processes = []
    for number, wheels in enumerate(concurrency_wheels):
        ready = tmp_path / f"ready-{number}"
        command = [sys.executable, "-c", PUBLISHER, index_url, str(ready), str(go)]
        processes.append(
            (
                ready,
                subprocess.Popen(
                    command + [str(w) for w in wheels],
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                ),
            )
        )
    deadline = time.monotonic() + 120
    while not all(ready.exists() for ready, _ in processes):
        assert time.monotonic() < deadline, "publishers did not start"
        assert all(p.poll() is None for _, p in processes), "a publisher died while starting"
        time.sleep(0.05)
    go.touch()  # all at once: maximal contention on the root

    swaps = attempts = 0
    for _, process in processes:
        stdout, stderr = process.communicate(timeout=240)
        assert process.returncode == 0, stderr
        outcome = json.loads(stdout)
        swaps += outcome["swaps"]
        attempts += outcome["attempts"]

    root = read_root(storage).root
    assert swaps == PROCESSES * 5
    assert root.serial == swaps  # init wrote serial 0; every swap added exactly one
    assert attempts >= swaps
    shared = read_project(storage, "shared-pkg", root.projects["shared-pkg"])
    assert len(shared.versions()) == 2 * PROCESSES
    for number in range(PROCESSES):
        own = read_project(storage, f"own-{number}", root.projects[f"own-{number}"])
        assert own.versions() == ["1.0", "2.0", "3.0"]
    total = sum(
        len(read_project(storage, name, entry).files) for name, entry in root.projects.items()
    )
    assert total == PROCESSES * 5
    report = check_index(storage)
    assert report.ok, report.problems
    assert report.files == PROCESSES * 5
    # Every project page shows the final state: the view never went backwards.
    page = storage.get("simple/shared-pkg/index.html")
    assert page.data.count(b"<a href=") == 2 * PROCESSES
    index_page = storage.get("simple/index.html")
    assert index_page.data.count(b"<a href=") == PROCESSES + 1
