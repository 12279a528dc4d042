"""The one way the index changes: write new immutable documents, then swap the root.

``change_root`` runs a change function against the current root, writes the project documents
it returns with create-only puts (content-addressed, so an existing key already holds exactly
these bytes), and replaces ``index.json`` by compare-and-swap with the serial increased by one.
When another writer got there first it re-reads the root and re-runs the change, with jittered
exponential backoff; this is the index's only hand-written retry loop.

Just before each compare-and-swap the writer records the exact new root under ``history/``
(:mod:`dioptra_plugins.index.history`: one create-only PUT), so that ``index repair`` can
rebuild a lost or damaged root with its yanks and a serial above every one ever committed; a
writer that loses the race removes its record once it has read the root that won.

Before the record it writes the new root's document pack (:mod:`dioptra_plugins.index.packs`),
and after the swap it removes the pack of the root it replaced.

A crash at any point leaves a valid index: until the swap, the new documents (and the record)
are merely unreferenced; after it, everything the root points at exists.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import NoReturn

from dioptra_plugins.errors import (
    ConflictError,
    DioptraPluginsError,
    ObjectExistsError,
    PublishError,
)
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.history import (
    Recorded,
    record_swap,
    refuse_a_lost_root,
    settle,
    snapshot_sha256,
)
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.packs import remove_pack, write_pack
from dioptra_plugins.index.reading import DocumentCache, RootSnapshot, read_root
from dioptra_plugins.index.storage import Storage

log = logging.getLogger(__name__)

MAX_ATTEMPTS = 200
BACKOFF_BASE_SECONDS = 0.02
BACKOFF_CAP_SECONDS = 1.0


ChangeFunction = Callable[[RootDocument, DocumentCache], Mapping[str, ProjectDocument]]

BeforeReplace = Callable[[RootSnapshot, RootDocument, bytes], None]
"""Called right before each compare-and-swap attempt with the root it replaces, the new root
and the new root's exact bytes (a signed index signs them there, before they can be seen)."""


@dataclass(frozen=True)
class SwapResult:
    root: RootDocument
    changed: tuple[ProjectDocument, ...]
    """The project documents the new root points at that this swap wrote (empty: no change)."""
    attempts: int
    new_projects: frozenset[str] = frozenset()
    """Names of the changed projects that the previous root did not list."""

    @property
    def swapped(self) -> bool:
        return bool(self.changed)


def _put_new_document(storage: Storage, document: ProjectDocument) -> None:
    # Content-addressed: an existing key already holds exactly these bytes.
    with contextlib.suppress(ObjectExistsError):
        storage.put_new(document.key, document.to_bytes())


def _put_documents(storage: Storage, documents: list[ProjectDocument]) -> None:
    """Write the new project documents, in parallel when a publish touches many projects."""
    if len(documents) == 1:
        _put_new_document(storage, documents[0])
        return
    with ThreadPoolExecutor(max_workers=min(8, len(documents))) as pool:
        list(pool.map(lambda document: _put_new_document(storage, document), documents))


def change_root(
    storage: Storage,
    change: ChangeFunction,
    *,
    before_swap: Callable[[], None] | None = None,
    before_replace: BeforeReplace | None = None,
    cache: DocumentCache | None = None,
    first: RootSnapshot | None = None,
    max_attempts: int = MAX_ATTEMPTS,
    sleep: Callable[[float], None] = time.sleep,
) -> SwapResult:
    """Apply ``change`` to the newest root in one compare-and-swap, retrying on conflict.

    ``change`` receives the root and a document cache and returns the new project documents by
    name (an empty mapping means "nothing to do": no write at all).  It may raise to refuse.
    ``before_swap`` runs after the documents are written and before the root is replaced
    (publish waits there for its bundle uploads, so documents and bundles go up together); if
    it raises, nothing but unreferenced objects was written.  ``before_replace`` runs on every
    attempt just before the compare-and-swap (see :data:`BeforeReplace`); the history record is
    written after it, so a hook that refuses leaves no record.  A caller that already read the
    root (``first``) and documents (``cache``) passes them: the first attempt reads nothing again.
    A missing root on an index whose history shows it existed is refused (PublishError).
    """
    cache = cache or DocumentCache(storage)
    lost: Recorded | None = None  # our record of the swap we last lost, until the root is read
    lost_pack: str | None = None  # the sha256 of that swap's root, whose pack we wrote
    for attempt in range(1, max_attempts + 1):
        snapshot = first if attempt == 1 and first is not None else read_root(storage)
        settle(storage, lost, snapshot.root if snapshot.exists else None)
        replaced = snapshot_sha256(snapshot)
        if lost_pack != replaced:  # unless the winner swapped in these very bytes
            remove_pack(storage, lost_pack)
        lost, lost_pack = None, None
        if not snapshot.exists:
            refuse_a_lost_root(storage)
        changed = dict(change(snapshot.root, cache))
        if not changed:
            return SwapResult(snapshot.root, (), attempt)
        new_root, new_bytes = _write_documents(storage, snapshot.root, changed, before_swap)
        if before_replace is not None:
            before_replace(snapshot, new_root, new_bytes)
        new_sha256 = sha256_hex(new_bytes)
        written = [document.to_bytes() for document in changed.values()]
        packed = write_pack(storage, new_root, new_sha256, written, replaced) is not None
        recorded = record_swap(storage, new_root, new_bytes, replaced)
        try:
            storage.replace(ROOT_KEY, new_bytes, snapshot.etag)
        except ConflictError:
            # Removed (or kept, if the winner swapped in these very bytes) after the next read.
            lost, lost_pack = recorded, new_sha256 if packed else None
            _back_off(attempt, sleep)
            continue
        log.info("index root is now serial %d", new_root.serial)
        remove_pack(storage, replaced, snapshot.root)  # its readers read documents one by one
        new_projects = frozenset(changed) - frozenset(snapshot.root.projects)
        return SwapResult(new_root, tuple(changed.values()), attempt, new_projects)
    _give_up(storage, lost, lost_pack, max_attempts)


def _write_documents(
    storage: Storage,
    root: RootDocument,
    changed: Mapping[str, ProjectDocument],
    before_swap: Callable[[], None] | None,
) -> tuple[RootDocument, bytes]:
    """Write the changed documents (then wait on ``before_swap``); the next root and its bytes."""
    _put_documents(storage, list(changed.values()))
    if before_swap is not None:
        before_swap()
    new_root = root.with_projects(
        {name: ProjectEntry.for_document(document) for name, document in changed.items()}
    )
    return new_root, new_root.to_bytes()


def _back_off(attempt: int, sleep: Callable[[float], None]) -> None:
    """Sleep a jittered, exponentially growing while after a lost swap."""
    delay = random.uniform(
        0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2 ** min(attempt, 16))
    )
    log.debug("root changed under us (attempt %d); retrying in %.3f s", attempt, delay)
    sleep(delay)


def _give_up(
    storage: Storage, lost: Recorded | None, lost_pack: str | None, max_attempts: int
) -> NoReturn:
    """Settle the record (and pack) of the last lost swap, then refuse: nothing was changed."""
    with contextlib.suppress(DioptraPluginsError):  # best effort, as every removal
        current = read_root(storage)
        settle(storage, lost, current.root if current.exists else None)
        if lost_pack != snapshot_sha256(current):
            remove_pack(storage, lost_pack)
    raise PublishError(
        f"gave up after {max_attempts} attempts: {storage.url}/{ROOT_KEY} kept changing "
        "(too many concurrent writers?); nothing was changed"
    )
