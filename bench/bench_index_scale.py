"""Index scale: resolving over an index of many projects x many versions, and the no-op's cost.

An index of ``--projects`` projects with ``--versions`` versions each (synthetic documents,
every file a real entry with a manifest; no bundle bytes are needed to resolve) in a local
directory.  Measured in-process, median of ``--rounds``:

- parsing the root alone (what every full sync pays, whatever it asks for);
- resolving 5 requirements (a chain of dependencies) from a cold document cache: the root, the
  five project documents, and resolvelib over their 50 versions each;
- a no-op sync's one request (the conditional read of the root, nothing parsed), against the same
  index and against an index of one project.  On S3 or HTTP it is a 304 without a body whatever
  the index's size; a local directory reads and hashes the root file.

Run: .venv/bin/python bench/bench_index_scale.py [--projects 1000] [--versions 50]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import statistics
import tempfile
import time
from pathlib import Path

from dioptra_plugins.index.documents import FileEntry, ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.syncing.index_view import IndexView
from dioptra_plugins.syncing.requirements import parse_requirements
from dioptra_plugins.syncing.resolve import resolve


def project(number: int, versions: int) -> ProjectDocument:
    name = f"proj{number:04d}"
    top = name.replace("-", "_")
    files = []
    for v in range(versions):
        version = f"1.{v}.0"
        filename = f"{top}-{version}-py3-none-any.whl"
        requires = (f"proj{number + 1:04d}>=1",) if number % 100 < 4 else ()
        files.append(
            FileEntry(
                filename=filename,
                version=version,
                sha256=hashlib.sha256(filename.encode()).hexdigest(),
                size=1000 + v,
                requires_python=">=3.11",
                requires_dist=requires,
                yanked=False,
                yanked_reason=None,
                upload_time="2026-12-02T00:00:00Z",
                core_metadata_sha256=hashlib.sha256(b"m" + filename.encode()).hexdigest(),
                top_level=top,
                manifest={"format": 1, "package": top, "tasks": []},
            )
        )
    return ProjectDocument(name=name, files=tuple(files))


def write_index(directory: Path, projects: int, versions: int) -> None:
    storage = open_storage(str(directory))
    entries = {}
    for number in range(projects):
        document = project(number, versions)
        storage.put_new(document.key, document.to_bytes())
        entries[document.name] = ProjectEntry.for_document(document)
    storage.replace(ROOT_KEY, RootDocument(serial=1, projects=entries).to_bytes(), None)


def median_ms(samples: list[float]) -> float:
    return statistics.median(samples) * 1000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--projects", type=int, default=1000)
    parser.add_argument("--versions", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        big, small = Path(tmp, "big"), Path(tmp, "small")
        started = time.perf_counter()
        write_index(big, args.projects, args.versions)
        write_index(small, 1, args.versions)
        built = time.perf_counter() - started
        storage = open_storage(str(big))
        root_bytes = storage.get(ROOT_KEY).data
        parse, resolving, noop_big, noop_small = [], [], [], []
        wanted = parse_requirements(["proj0000>=1"])  # pulls proj0001..proj0004 in
        for _ in range(args.rounds):
            t = time.perf_counter()
            root = RootDocument.from_bytes(root_bytes)
            parse.append(time.perf_counter() - t)
            t = time.perf_counter()
            chosen = resolve(IndexView(storage, root, None), wanted)
            resolving.append(time.perf_counter() - t)
        assert len(chosen) == 5, chosen
        # A no-op sync is one conditional read of the root (nothing parsed): timed here directly.
        for directory, samples in ((big, noop_big), (small, noop_small)):
            s = open_storage(str(directory))
            etag = s.get(ROOT_KEY).etag
            for _ in range(args.rounds * 10):
                t = time.perf_counter()
                s.get_if_changed(ROOT_KEY, etag)
                samples.append(time.perf_counter() - t)
    root_kb = len(root_bytes) / 1024
    print(
        f"| index of {args.projects} projects x {args.versions} versions (root {root_kb:.0f} KB;"
        f" built in {built:.0f} s) | parse the root {median_ms(parse):.1f} ms; resolve a chain"
        f" of 5 from a cold document cache {median_ms(resolving):.1f} ms | - | - | resolving"
        f" <= 200 ms | {'yes' if median_ms(resolving) <= 200 else 'no'} | no-op root request"
        f" {median_ms(noop_big):.2f} ms vs {median_ms(noop_small):.2f} ms with 1 project |"
    )
    print(json.dumps({"parse": parse, "resolve": resolving}, default=lambda x: round(x, 4)))


if __name__ == "__main__":
    main()
