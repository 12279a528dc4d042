"""A root snapshot's project documents in one object: ``packs/<sha256 of the root>.jsonl``.

A cold sync of n projects reads n project documents, one request each (400 at 400 bundles:
about 0.4 s of a warm worker's 2.2 s over HTTP; from S3 each request also costs the server and
the signing client about 1.4 ms of CPU).  So a writer that swaps in a root of at least
:data:`PACK_FROM` projects first writes its *pack*: every document the root pins, byte for byte
as stored, one a line (canonical JSON has no raw newline), named by the sha256 of the root's
exact bytes, so that a reader holding a root knows its pack's key.

A pack adds no trust and no new failure.  A reader takes from it only the lines whose sha256 is
one the root pins for a project it wants: the very bytes it would have fetched one by one, and
still parsed and checked as those are.  Any other line (garbled, of another snapshot, a
forgery) is ignored, and what the pack lacks is fetched one by one as before.  A missing pack
(an index written by an older version, a root whose pack could not be written, a root replaced
since, whose successor removed it) costs one request that finds nothing.  A pack is written
create-only, before its root can be seen; the writer of the next root removes it.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Iterable, Mapping
from concurrent.futures import ThreadPoolExecutor

from dioptra_plugins.errors import DioptraPluginsError, ObjectExistsError, StorageError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.history import Deleting
from dioptra_plugins.index.keys import pack_key
from dioptra_plugins.index.reading import checked_project, read_project
from dioptra_plugins.index.storage import Storage

logger = logging.getLogger(__name__)

PACK_FROM = 16
"""Roots of fewer projects get no pack, and a reader that needs fewer documents reads none."""

PACK_MAX_BYTES = 32 * 1024 * 1024
"""No pack is written past this size: each swap reads the previous pack and writes the next,
so an index whose documents outgrow it (many projects, each with many versions) would copy
more per publish than the pack saves a sync; its syncs read documents one by one."""


def pack_lines(storage: Storage, root_sha256: str, wanted: Mapping[str, str]) -> dict[str, bytes]:
    """The documents of ``wanted`` (sha256 -> project name) found in the pack of the root with
    ``root_sha256``, by sha256; empty when there is no readable pack.  Cost: one request."""
    try:
        data = storage.get(pack_key(root_sha256)).data
    except DioptraPluginsError as error:
        # Missing, refused (a verifying reader serves only signed targets) or unreadable: the
        # documents are read one by one, as without a pack.
        logger.debug("no document pack for root %s: %s", root_sha256, error)
        return {}
    found: dict[str, bytes] = {}
    for line in data.split(b"\n"):
        if line:
            sha256 = sha256_hex(line)
            if sha256 in wanted:
                found[sha256] = line
    return found


def read_documents(
    storage: Storage,
    root: RootDocument,
    root_sha256: str | None,
    names: Iterable[str] | None = None,
    *,
    strict: bool = False,
    jobs: int = 8,
) -> dict[str, ProjectDocument]:
    """The documents ``root`` pins for ``names`` (default: all its projects), by name: from
    the pack of the root whose bytes have ``root_sha256`` when it has one, the others in
    parallel.  One that cannot be read or fails its check is left out, or with ``strict``
    raises the error that says why (the first, in name order).  Cost: one request when the
    pack holds them all; else one a document, ``jobs`` at a time."""
    projects = root.projects
    wanted = {projects[name].sha256: name for name in (projects if names is None else names)}
    documents: dict[str, ProjectDocument] = {}
    if root_sha256 is not None and len(wanted) >= PACK_FROM:
        for sha256, data in pack_lines(storage, root_sha256, wanted).items():
            name = wanted[sha256]
            entry = projects[name]
            with contextlib.suppress(DioptraPluginsError):
                what = f"{storage.url}/{entry.document}"
                documents[name] = checked_project(data, name, entry, what)

    def read(name: str) -> tuple[str, ProjectDocument] | None:
        try:
            return name, read_project(storage, name, projects[name])
        except DioptraPluginsError:
            if strict:
                raise
            return None

    missing = sorted(set(wanted.values()) - set(documents))
    if missing:
        with ThreadPoolExecutor(max_workers=max(1, min(jobs, len(missing)))) as pool:
            documents.update(found for found in pool.map(read, missing) if found is not None)
    return documents


def write_pack(
    storage: Storage,
    root: RootDocument,
    root_sha256: str,
    written: Iterable[bytes],
    previous_sha256: str | None,
) -> str | None:
    """Write the pack of ``root`` (whose bytes have ``root_sha256``); returns its key, or None
    when the root lists fewer than :data:`PACK_FROM` projects or the pack could not be written.

    ``written``: the bytes of the documents this swap wrote.  The others come from the pack of
    the root it replaces (``previous_sha256``), and what that lacks from the index, each
    checked against the sha256 ``root`` pins.  None either past :data:`PACK_MAX_BYTES`.  A
    failure only costs readers their shortcut, so it is logged, not raised.  Cost: at most two
    requests, plus one per document neither holds.
    """
    if len(root.projects) < PACK_FROM:
        return None
    names = {entry.sha256: name for name, entry in root.projects.items()}
    lines = {sha256: data for data in written if (sha256 := sha256_hex(data)) in names}
    if previous_sha256 is not None:
        lines.update(pack_lines(storage, previous_sha256, names))
    missing = [sha256 for sha256 in names if sha256 not in lines]
    if missing:
        lines.update(_read_documents(storage, root, [names[sha256] for sha256 in missing]))
    key = pack_key(root_sha256)
    body = b"".join(
        lines[entry.sha256] + b"\n"
        for _name, entry in sorted(root.projects.items())
        if entry.sha256 in lines and b"\n" not in lines[entry.sha256]
    )
    if len(body) > PACK_MAX_BYTES:
        logger.info("no document pack: %d bytes of documents, over %d", len(body), PACK_MAX_BYTES)
        return None
    try:
        storage.put_new(key, body)
    except ObjectExistsError:
        pass  # the same root's pack: another writer swapped in these very bytes
    except StorageError as error:
        logger.warning("could not write the document pack %s (syncs read documents one by "
                       "one): %s", key, error)  # fmt: skip
        return None
    return key


def _read_documents(storage: Storage, root: RootDocument, names: list[str]) -> dict[str, bytes]:
    """The stored bytes of the documents ``root`` pins for ``names`` that match their sha256."""

    def read(name: str) -> tuple[str, bytes] | None:
        entry = root.projects[name]
        try:
            data = storage.get(entry.document).data
        except StorageError as error:
            logger.debug("document %s left out of the pack: %s", entry.document, error)
            return None
        return (entry.sha256, data) if sha256_hex(data) == entry.sha256 else None

    with ThreadPoolExecutor(max_workers=min(8, len(names))) as pool:
        return dict(found for found in pool.map(read, names) if found is not None)


def remove_pack(
    storage: Storage, root_sha256: str | None, root: RootDocument | None = None
) -> None:
    """Remove the pack of the root with ``root_sha256`` (best effort: a reader that finds
    none reads the documents one by one).  Given the ``root``, only when it could have one."""
    if root_sha256 is None or not isinstance(storage, Deleting):
        return
    if root is not None and len(root.projects) < PACK_FROM:
        return  # no request: a small index's writes stay what they were
    with contextlib.suppress(DioptraPluginsError):
        storage.delete(pack_key(root_sha256))
