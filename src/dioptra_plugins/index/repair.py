"""``index repair``: rebuild a damaged or lost ``index.json`` from the immutable documents.

Every publish, yank and unyank writes a new project document (content-addressed, never
changed) before it swaps the root, so the documents under ``projects/`` hold the history of
every project.  For each project the repair takes the document that describes the most files
whose bundles still exist (later documents only ever add files; among equals, the one with the
latest upload time), drops entries whose bundle is missing, and writes a new root by
compare-and-swap against whatever ``index.json`` holds now.

The serial must not go backwards for workers that accepted the old root: every root swap wrote
at least one new document, so "number of project documents + 1" is above any serial the index
had (unless yank/unyank cycles recreated identical documents); an old root that still parses
raises the floor to its serial + 1, and ``--serial`` overrides both.  Cost: one listing of
``projects/`` and ``bundles/``, one read per project document, one write per changed project,
one compare-and-swap.
"""

from __future__ import annotations

import contextlib
import logging
from collections import defaultdict
from dataclasses import dataclass, field

from dioptra_plugins.errors import (
    DioptraPluginsError,
    ObjectExistsError,
    ObjectNotFoundError,
    UsageError,
)
from dioptra_plugins.index.documents import ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.keys import ROOT_KEY, bundle_key
from dioptra_plugins.index.simple import update_simple_pages
from dioptra_plugins.index.storage import Storage

logger = logging.getLogger(__name__)


@dataclass
class RepairResult:
    url: str
    serial: int
    projects: dict[str, int] = field(default_factory=dict)
    """Project name -> number of files in the repaired root."""
    skipped_documents: list[str] = field(default_factory=list)
    """Keys of documents that could not be read (damaged): reported, never used."""
    missing_bundles: list[str] = field(default_factory=list)
    """Files a document lists whose bundle is gone: left out of the repaired root."""
    previous_root: str = "missing"
    """What ``index.json`` was: ``missing``, ``damaged`` or ``valid``."""


def repair_index(
    storage: Storage, *, serial: int | None = None, force: bool = False
) -> RepairResult:
    """Rebuild ``index.json`` from ``projects/`` and ``bundles/``; see the module docstring.

    A root that is still valid is left alone unless ``force`` (a rebuild cannot know the order
    of yanks and unyanks, so it could undo one).
    """
    if serial is not None and serial < 1:
        raise UsageError(f"--serial must be 1 or more, not {serial}")
    etag, old_serial, previous = _current_root(storage)
    if previous == "valid" and not force:
        raise UsageError(
            f"{storage.url}/{ROOT_KEY} is valid: nothing to repair (`index check` checks what it "
            "points at); pass --force to rebuild it from the project documents anyway"
        )
    bundles = {info.key for info in storage.list("bundles/")}
    documents: dict[str, list[ProjectDocument]] = defaultdict(list)
    result = RepairResult(url=storage.url, serial=0, previous_root=previous)
    keys = [info.key for info in storage.list("projects/") if info.key.endswith(".json")]
    for key in keys:
        try:
            document = ProjectDocument.from_bytes(storage.get(key).data, what=key)
        except DioptraPluginsError as error:
            logger.warning("index repair: skipping %s: %s", key, error)
            result.skipped_documents.append(key)
            continue
        if key != document.key:
            logger.warning("index repair: skipping %s: its content names %s", key, document.key)
            result.skipped_documents.append(key)
            continue
        documents[document.name].append(document)
    chosen: dict[str, ProjectDocument] = {}
    for name, candidates in sorted(documents.items()):
        best = max(candidates, key=lambda d: (_present(d, bundles), _newest_upload(d)))
        files = [f for f in best.files if bundle_key(name, f.filename) in bundles]
        result.missing_bundles += [
            bundle_key(name, f.filename) for f in best.files if f not in files
        ]
        if not files:
            continue
        chosen[name] = best if len(files) == len(best.files) else best.with_files(files)
        result.projects[name] = len(files)
    floor = max(len(keys) + 1, old_serial + 1)
    new_root = RootDocument(
        serial=serial if serial is not None else floor,
        projects={name: ProjectEntry.for_document(d) for name, d in chosen.items()},
    )
    for document in chosen.values():
        # Content-addressed: an existing key already holds exactly these bytes.
        with contextlib.suppress(ObjectExistsError):
            storage.put_new(document.key, document.to_bytes())
    storage.replace(ROOT_KEY, new_root.to_bytes(), etag)
    update_simple_pages(storage, new_root, chosen.values(), frozenset(chosen))
    result.serial = new_root.serial
    logger.info("index repair: %s now at serial %d", storage.url, new_root.serial)
    return result


def _current_root(storage: Storage) -> tuple[str | None, int, str]:
    """(ETag to swap against, serial of the old root or 0, its state)."""
    try:
        stored = storage.get(ROOT_KEY)
    except ObjectNotFoundError:
        return None, 0, "missing"
    try:
        return stored.etag, RootDocument.from_bytes(stored.data).serial, "valid"
    except DioptraPluginsError:
        return stored.etag, 0, "damaged"


def _present(document: ProjectDocument, bundles: set[str]) -> int:
    return sum(bundle_key(document.name, f.filename) in bundles for f in document.files)


def _newest_upload(document: ProjectDocument) -> str:
    return max((f.upload_time for f in document.files), default="")
