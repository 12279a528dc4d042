"""The root's history: one immutable record per root swap, written just before the swap.

Project documents are content-addressed and carry no order, so ``projects/`` alone cannot tell
a rebuild which document of a project is the newest (a yank then an unyank, or a publish after
them, all leave documents that look equally current) nor the highest serial a worker may have
accepted.  So every writer, before its compare-and-swap of ``index.json``, writes create-only

    history/<serial:012d>-<sha256 of the new root's bytes>.json
    {"format": 1, "serial": N, "root": "<the exact new root bytes>", "base_sha256": "<hex>"}

where ``base_sha256`` is the sha256 of the root it replaces (null when there was none).  After a
lost or damaged root, ``index repair`` writes the root of the newest record again, with a serial
above every recorded one (:mod:`dioptra_plugins.publishing.repair`).

Which records are true: a record is written before its swap, so a record whose writer lost the
race (or died before swapping) exists too.  A loser removes its own record once the root it
reads next is not its own (best effort: a crash leaves it behind; see :func:`settle`).  Every
``base_sha256`` was read from ``index.json`` itself, so it names a root that was committed; at
one serial at most one root is ever committed (serials only grow).

Costs: one create-only PUT per swap, the size of the root; one DELETE per lost swap; nothing for
readers.  A repair lists ``history/`` (one request per 1,000 records) and reads the records of
the newest serial.  Records are never needed once a newer one is committed, so a future
``gc`` may prune all but the newest few; nothing does yet.
"""

from __future__ import annotations

import contextlib
import json
import logging
from dataclasses import dataclass, field
from typing import Protocol, runtime_checkable

from dioptra_plugins.errors import (
    ConflictError,
    DioptraPluginsError,
    IndexFormatError,
    ObjectExistsError,
    ObjectNotFoundError,
    PublishError,
)
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import FORMAT_VERSION, RootDocument, canonical_json
from dioptra_plugins.index.keys import (
    HISTORY_PREFIX,
    ROOT_KEY,
    history_key,
    is_sha256,
    parse_history_key,
)
from dioptra_plugins.index.reading import RootSnapshot, read_root
from dioptra_plugins.index.storage import Storage

log = logging.getLogger(__name__)

_PUT_ATTEMPTS = 3
"""S3 answers 409 while another create-only write of the same key is in flight."""


@runtime_checkable
class Deleting(Protocol):
    """A storage that can remove an object (local and S3; not a read-only HTTP index)."""

    def delete(self, key: str) -> None: ...


@dataclass(frozen=True)
class HistoryRecord:
    """One root as a writer was about to swap it in, and the root it replaced."""

    serial: int
    root_bytes: bytes
    base_sha256: str | None
    root: RootDocument = field(compare=False, repr=False)

    @classmethod
    def of(cls, root: RootDocument, root_bytes: bytes, base_sha256: str | None) -> HistoryRecord:
        return cls(root.serial, root_bytes, base_sha256, root)

    @property
    def root_sha256(self) -> str:
        return sha256_hex(self.root_bytes)

    @property
    def key(self) -> str:
        return history_key(self.serial, self.root_sha256)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": FORMAT_VERSION,
                "serial": self.serial,
                "root": self.root_bytes.decode("utf-8"),
                "base_sha256": self.base_sha256,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes, key: str) -> HistoryRecord:
        """Parse and check a record against its own key (IndexFormatError if anything is off)."""
        try:
            obj = json.loads(data.decode("utf-8"))
        except (UnicodeDecodeError, ValueError, RecursionError):
            raise IndexFormatError(f"{key}: not valid JSON ({len(data)} bytes)") from None
        if not isinstance(obj, dict) or type(obj.get("format")) is not int:
            raise IndexFormatError(f"{key}: not a history record")
        if obj["format"] != FORMAT_VERSION:
            raise IndexFormatError(f"{key}: unknown format version {obj['format']!r}")
        text, base = obj.get("root"), obj.get("base_sha256")
        if not isinstance(text, str):
            raise IndexFormatError(f"{key}: field 'root' must be a string")
        if base is not None and not (isinstance(base, str) and is_sha256(base)):
            raise IndexFormatError(f"{key}: field 'base_sha256' must be a sha256 or null")
        root_bytes = text.encode("utf-8")
        root = RootDocument.from_bytes(root_bytes, what=f"{key} (recorded root)")
        record = cls.of(root, root_bytes, base)
        if obj.get("serial") != root.serial or record.key != key:
            raise IndexFormatError(
                f"{key}: names another root than it holds (serial {root.serial}, sha256 "
                f"{record.root_sha256})"
            )
        return record


@dataclass(frozen=True)
class Recorded:
    """A record this writer wrote (``created``) or found already written with the same key."""

    record: HistoryRecord
    created: bool


def snapshot_sha256(snapshot: RootSnapshot) -> str | None:
    """The sha256 a record names as its base: of the root read (None: there was none).

    Hashed from the canonical bytes of the parsed root, which are the stored bytes whenever this
    version wrote them (every writer writes canonical JSON): that is when a record of it exists.
    """
    return sha256_hex(snapshot.root.to_bytes()) if snapshot.exists else None


def record_swap(
    storage: Storage, root: RootDocument, root_bytes: bytes, base_sha256: str | None
) -> Recorded:
    """Write the record of a swap about to happen (create-only); call before the swap."""
    record = HistoryRecord.of(root, root_bytes, base_sha256)
    data = record.to_bytes()
    for attempt in range(1, _PUT_ATTEMPTS + 1):
        try:
            storage.put_new(record.key, data)
        except ObjectExistsError:
            # The same root bytes at the same serial: another writer made the same change (or
            # this one retried).  That record is not ours to remove.
            return Recorded(record, created=False)
        except ConflictError:
            if attempt == _PUT_ATTEMPTS:
                raise
            continue
        return Recorded(record, created=True)
    raise AssertionError("unreachable")  # pragma: no cover


def settle(storage: Storage, recorded: Recorded | None, current: RootDocument | None) -> None:
    """After a lost swap: remove our record unless ``current`` (the root read since) is it.

    Another writer may have swapped in the very same bytes (an identical yank) while we created
    the record: then it is the record of a committed root and stays.
    """
    if recorded is None or not recorded.created:
        return
    if current is not None and current.to_bytes() == recorded.record.root_bytes:
        return
    withdraw(storage, recorded.record.key)


def withdraw(storage: Storage, key: str) -> None:
    """Best effort: a record left behind only makes a later repair ask which root to take."""
    if not isinstance(storage, Deleting):
        log.debug("cannot remove %s from %s: this storage does not delete", key, storage.url)
        return
    try:
        storage.delete(key)
    except DioptraPluginsError as error:
        log.warning("could not remove the record of a lost swap %s: %s", key, error)


def recorded_replace(
    storage: Storage, base: RootSnapshot, root: RootDocument, root_bytes: bytes
) -> str:
    """Record ``root``, then compare-and-swap ``index.json`` against ``base``; the new ETag.

    For writers of the root other than :func:`dioptra_plugins.index.swap.change_root` (which
    records in its own loop).  Raises ConflictError like ``Storage.replace``, after removing
    the record unless the winner swapped in these very bytes.
    """
    recorded = record_swap(storage, root, root_bytes, snapshot_sha256(base))
    try:
        return storage.replace(ROOT_KEY, root_bytes, base.etag)
    except ConflictError:
        with contextlib.suppress(DioptraPluginsError):  # best effort, as every removal
            now = read_root(storage)
            settle(storage, recorded, now.root if now.exists else None)
        raise


def history_keys(storage: Storage) -> dict[int, list[str]]:
    """Serial -> the record keys at that serial (other keys under ``history/`` are ignored)."""
    found: dict[int, list[str]] = {}
    for info in storage.list(HISTORY_PREFIX):
        parsed = parse_history_key(info.key)
        if parsed is not None:
            found.setdefault(parsed[0], []).append(info.key)
    return found


def read_record(storage: Storage, key: str) -> HistoryRecord:
    return HistoryRecord.from_bytes(storage.get(key).data, key)


def refuse_a_lost_root(storage: Storage) -> None:
    """A missing root on an index whose history went past serial 1 was lost, not never made.

    Writing serial 1 there would move the serial back below what workers accepted and drop every
    project; ``index repair`` rebuilds it instead.  Records at serial 1 alone may be a first
    publish that died before its swap, so they do not count.  Cost: one listing, only when
    ``index.json`` is missing.
    """
    serials = history_keys(storage)
    top = max(serials, default=0)
    if top >= 2:
        try:
            storage.get(ROOT_KEY)
        except ObjectNotFoundError:
            pass
        else:
            # Created since the caller saw it missing (concurrent first publishers): a stale
            # read, not a lost root; the caller's create-only swap fails and retries on it.
            return
        raise PublishError(
            f"{storage.url}/{ROOT_KEY} is missing, but the index's history records serial {top}: "
            "the root was lost; run `dioptra-plugins index repair` to rebuild it (writing a new "
            "root here would drop every project and move the serial back)"
        )
