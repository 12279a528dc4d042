"""``index check``: is everything the root reaches present and intact?

Every project document is read and checked against the sha256 the root pins, and every bundle
a document lists is streamed and checked for size and sha256.  Objects under ``projects/`` and
``bundles/`` that nothing reaches are listed as unreferenced: normal after a crashed or lost
publish race, and harmless, so they are reported but are not damage.
"""

from __future__ import annotations

import hashlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

from dioptra_plugins.errors import DioptraPluginsError, ObjectNotFoundError
from dioptra_plugins.hashing import sha256_stream
from dioptra_plugins.index.documents import FileEntry
from dioptra_plugins.index.keys import ROOT_KEY, bundle_key, core_metadata_key
from dioptra_plugins.index.reading import read_project, read_root
from dioptra_plugins.index.storage import Storage


@dataclass
class CheckReport:
    url: str
    serial: int | None = None
    projects: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return not self.problems


def check_index(storage: Storage, *, max_workers: int = 8) -> CheckReport:
    report = CheckReport(storage.url)
    try:
        snapshot = read_root(storage)
    except DioptraPluginsError as error:
        report.problems.append(f"{ROOT_KEY}: {error}")
        return report
    if not snapshot.exists:
        report.problems.append(f"{ROOT_KEY}: missing (not an index; run `index init`)")
        return report
    root = snapshot.root
    report.serial = root.serial
    reachable = {ROOT_KEY}
    bundles: list[tuple[str, FileEntry]] = []
    for name, entry in sorted(root.projects.items()):
        reachable.add(entry.document)
        try:
            document = read_project(storage, name, entry)
        except DioptraPluginsError as error:
            report.problems.append(str(error))
            continue
        report.projects += 1
        for file in document.files:
            key = bundle_key(name, file.filename)
            reachable.update((key, core_metadata_key(name, file.filename)))
            bundles.append((key, file))
    report.files = len(bundles)
    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        for problem in pool.map(lambda item: _bundle_problem(storage, *item), bundles):
            if problem:
                report.problems.append(problem)
    for prefix in ("projects/", "bundles/"):
        for info in storage.list(prefix):
            if info.key not in reachable:
                report.unreferenced.append(info.key)
    return report


def _bundle_problem(storage: Storage, key: str, file: FileEntry) -> str | None:
    try:
        with storage.open(key) as stream:
            found, size = sha256_stream(stream)
    except ObjectNotFoundError:
        return f"{key}: missing"
    except DioptraPluginsError as error:
        return f"{key}: {error}"
    if size != file.size:
        return f"{key}: size {size}, expected {file.size}"
    if found != file.sha256:
        return f"{key}: sha256 {found}, expected {file.sha256}"
    return _metadata_problem(storage, core_metadata_key(*key.split("/")[1:]), file)


def _metadata_problem(storage: Storage, key: str, file: FileEntry) -> str | None:
    """The PEP 658 ``<wheel>.metadata`` the simple pages promise: present, with its sha256."""
    try:
        data = storage.get(key).data
    except ObjectNotFoundError:
        return f"{key}: missing (the simple pages promise it to pip and uv)"
    except DioptraPluginsError as error:
        return f"{key}: {error}"
    found = hashlib.sha256(data).hexdigest()
    if found != file.core_metadata_sha256:
        return f"{key}: sha256 {found}, expected {file.core_metadata_sha256}"
    return None
