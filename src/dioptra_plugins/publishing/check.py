"""``index check``: is everything the root reaches present and intact?

Every project document is read and checked against the sha256 the root pins, and every bundle
a document lists is streamed and checked for size and sha256.  Objects under ``projects/``,
``bundles/`` and ``packs/`` that nothing reaches (a pack not the current root's) are listed as
unreferenced: normal after a crashed or lost publish race, and harmless, so they are reported
but are not damage.

With a trusted root (``trust``), the root and documents checked are the ones the index's signed
metadata pins, read as a verifying worker reads them (:mod:`dioptra_plugins.signing.views`);
every way the unsigned documents disagree with them is reported too, and fails the check: a
signed index whose ``index.json`` says something else was written by someone without the keys,
or by a publisher that died before signing (either way, workers do not see it).
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from dioptra_plugins.errors import DioptraPluginsError, ObjectNotFoundError, UsageError
from dioptra_plugins.hashing import sha256_hex, sha256_stream
from dioptra_plugins.index.documents import FileEntry, ProjectDocument, RootDocument
from dioptra_plugins.index.keys import (
    PACK_PREFIX,
    ROOT_KEY,
    bundle_key,
    core_metadata_key,
    pack_key,
)
from dioptra_plugins.index.packs import read_documents
from dioptra_plugins.index.reading import read_project, read_root
from dioptra_plugins.index.storage import Storage

if TYPE_CHECKING:
    from dioptra_plugins.signing.views import Disagreement


@dataclass
class CheckReport:
    url: str
    serial: int | None = None
    projects: int = 0
    files: int = 0
    problems: list[str] = field(default_factory=list)
    unreferenced: list[str] = field(default_factory=list)
    trusted: bool = False
    """Checked through the signed metadata (a trusted root was given)."""
    disagreements: list[Disagreement] = field(default_factory=list)
    """With ``trusted``: how the unsigned documents differ from the signed metadata."""
    unsigned_serial: int | None = None
    """With ``trusted``: the serial of the unsigned ``index.json`` (None: missing, damaged)."""

    @property
    def ok(self) -> bool:
        return not self.problems and not self.disagreements


def check_index(
    storage: Storage,
    *,
    max_workers: int = 8,
    trust: str | os.PathLike[str] | bytes | None = None,
) -> CheckReport:
    """Check everything the root reaches; with ``trust``, the root the signed metadata pins.

    Raises only UsageError (an unusable trusted root); everything found wrong with the index,
    its signed metadata included, is in the report.
    """
    report = CheckReport(storage.url, trusted=trust is not None)
    found = _trusted_root(storage, trust, report) if trust is not None else _root(storage, report)
    if found is None:
        return report
    root, documents = found
    report.serial = root.serial
    # The root's document pack (named by the sha256 of its canonical bytes, which are the
    # stored ones whenever this version wrote them); any other pack is a crashed writer's.
    reachable = {ROOT_KEY, pack_key(sha256_hex(root.to_bytes()))}
    bundles: list[tuple[str, FileEntry]] = []
    for name, entry in sorted(root.projects.items()):
        reachable.add(entry.document)
        if name not in documents:
            continue  # its problem is already reported
        document = documents[name]
        report.projects += 1
        for file in document.files:
            key = bundle_key(name, file.filename)
            reachable.update((key, core_metadata_key(name, file.filename)))
            bundles.append((key, file))
    report.files = len(bundles)
    # With trust, bundles are read from the storage itself: the size and sha256 they are held
    # to come from the signed documents, which equal the signed targets.
    pinned = " (signed)" if report.trusted else ""

    def problem_of(item: tuple[str, FileEntry]) -> str | None:
        return _bundle_problem(storage, item[0], item[1], pinned)

    with ThreadPoolExecutor(max_workers=max_workers) as pool:
        for problem in pool.map(problem_of, bundles):
            if problem:
                report.problems.append(problem)
    report.unreferenced += [
        info.key
        for prefix in ("projects/", "bundles/", PACK_PREFIX)
        for info in storage.list(prefix)
        if info.key not in reachable
    ]
    return report


def _root(
    storage: Storage, report: CheckReport
) -> tuple[RootDocument, dict[str, ProjectDocument]] | None:
    """The unsigned root and its readable documents (from its pack when it has one, else in
    parallel; each that cannot be read is reported); None when there is no root."""
    try:
        snapshot = read_root(storage)
    except DioptraPluginsError as error:
        report.problems.append(f"{ROOT_KEY}: {error}")
        return None
    if not snapshot.exists:
        report.problems.append(f"{ROOT_KEY}: missing (not an index; run `index init`)")
        return None
    documents = read_documents(storage, snapshot.root, snapshot.sha256)
    for name, entry in sorted(snapshot.root.projects.items()):
        if name not in documents:
            try:  # read again, for the error that says why
                documents[name] = read_project(storage, name, entry)
            except DioptraPluginsError as error:
                report.problems.append(str(error))
    return snapshot.root, documents


def _trusted_root(
    storage: Storage, trust: str | os.PathLike[str] | bytes, report: CheckReport
) -> tuple[RootDocument, dict[str, ProjectDocument]] | None:
    """The signed root and its readable documents; None when the signed metadata is refused."""
    # Imported here: tuf and ngclient are needed only with a trusted root.
    from dioptra_plugins.signing.views import trusted_view

    try:
        view = trusted_view(storage, trust)
    except UsageError:
        raise
    except DioptraPluginsError as error:
        report.problems.append(f"signed metadata: {error}")
        return None
    report.disagreements = view.disagreements
    report.unsigned_serial = view.unsigned_serial
    for name, unreadable in sorted(view.unreadable.items()):
        report.problems.append(f"{name}: {unreadable}")
    return view.root, view.documents


def _bundle_problem(storage: Storage, key: str, file: FileEntry, pinned: str) -> str | None:
    try:
        with storage.open(key) as stream:
            found, size = sha256_stream(stream)
    except ObjectNotFoundError:
        return f"{key}: missing"
    except DioptraPluginsError as error:
        return f"{key}: {error}"
    if size != file.size:
        return f"{key}: size {size}, expected {file.size}{pinned}"
    if found != file.sha256:
        return f"{key}: sha256 {found}, expected {file.sha256}{pinned}"
    return _metadata_problem(storage, core_metadata_key(*key.split("/")[1:]), file, pinned)


def _metadata_problem(storage: Storage, key: str, file: FileEntry, pinned: str) -> str | None:
    """The PEP 658 ``<wheel>.metadata`` the simple pages promise: present, with its sha256."""
    try:
        data = storage.get(key).data
    except ObjectNotFoundError:
        return f"{key}: missing (the simple pages promise it to pip and uv)"
    except DioptraPluginsError as error:
        return f"{key}: {error}"
    found = sha256_hex(data)
    if found != file.core_metadata_sha256:
        return f"{key}: sha256 {found}, expected {file.core_metadata_sha256}{pinned}"
    return None
