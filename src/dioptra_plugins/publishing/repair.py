"""``index repair``: write ``index.json`` again after it was lost or damaged, losing nothing.

What a rebuild must not lose is what workers rely on: which release is yanked (and why), and the
serial, which must stay above every serial a worker may have accepted (a worker refuses a root
whose serial is lower than one it saw).  Project documents alone know neither: they are
content-addressed and carry no order.  So every root swap records the exact new root first
(:mod:`dioptra_plugins.index.history`), and repair works from those records:

- a **lost or damaged** root: the root of the newest record, with a serial one above every
  recorded serial (and above the damaged root's serial, when its bytes still show one).  Yanks
  and reasons come back exactly, since the recorded root pins the project documents that hold
  them.  When the newest serial has several records (a writer that lost its swap, or died before
  it, leaves one) and nothing tells which was committed, repair names them and refuses unless
  told (``choose``);
- a **valid** root with ``force``: the same projects at ``serial + 1`` (above every record too);
- an index **without history** (written by an older dioptra-plugins), or whose damaged root
  shows a serial the history never reached: repair cannot know the yank order nor the highest
  serial accepted, says so and refuses, unless the caller states the serial and accepts the old
  rebuild from the project documents (``serial`` and ``without_history``).

Whatever the source, files whose bundle is gone are dropped (and reported), and a project whose
pinned document is missing or damaged is left out (and reported).  The new root is recorded and
swapped like any other (``before_replace`` runs first: a signed index signs or refuses there).

A record whose writer died after recording and before swapping looks like a committed one once
the root is gone: repair then completes that change (its documents and bundles were all written
before the record).  The serial promise holds either way.

Cost: one listing of ``history/`` and one of ``bundles/``, one read per record at the newest
serial and per project document, one write per changed project, one record, one
compare-and-swap.  Without history, one read per project document of the index instead.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections import defaultdict
from dataclasses import dataclass, field

from dioptra_plugins.errors import (
    ConflictError,
    DioptraPluginsError,
    ObjectExistsError,
    ObjectNotFoundError,
    PublishError,
    RepairRefusedError,
    StorageOSError,
    UsageError,
)
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import MAX_INTEGER, ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.history import history_keys, record_swap, settle
from dioptra_plugins.index.keys import ROOT_KEY, bundle_key
from dioptra_plugins.index.reading import RootSnapshot, read_project
from dioptra_plugins.index.simple import update_simple_pages
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.swap import BeforeReplace
from dioptra_plugins.publishing.recorded_roots import chosen_record, newest_committed

logger = logging.getLogger(__name__)

_SERIAL_IN_BYTES = re.compile(rb'"serial"\s*:\s*([0-9]{1,19})')
WITHOUT_HISTORY = "project documents (no history)"


@dataclass
class RepairResult:
    url: str
    serial: int
    projects: dict[str, int] = field(default_factory=dict)
    """Project name -> number of files in the repaired root."""
    skipped_documents: list[str] = field(default_factory=list)
    """Documents and records that could not be read (damaged or missing): reported, not used."""
    missing_bundles: list[str] = field(default_factory=list)
    """Files a document lists whose bundle is gone: left out of the repaired root."""
    previous_root: str = "missing"
    """What ``index.json`` was: ``missing``, ``damaged`` or ``valid``."""
    source: str = ROOT_KEY
    """Where the projects came from: ``index.json``, a ``history/...`` record, or
    :data:`WITHOUT_HISTORY`."""
    highest_recorded_serial: int | None = None
    """The highest serial of the index's history (None: it has none)."""


@dataclass(frozen=True)
class _Current:
    """``index.json`` as found."""

    etag: str | None
    data: bytes | None
    root: RootDocument | None

    @property
    def state(self) -> str:
        return "missing" if self.data is None else "valid" if self.root else "damaged"

    @property
    def serial(self) -> int:
        """Its serial, or the highest one its damaged bytes still show (0: none)."""
        if self.root is not None:
            return self.root.serial
        if self.data is None:
            return 0
        found = [int(m) for m in _SERIAL_IN_BYTES.findall(self.data)]
        return max((s for s in found if s <= MAX_INTEGER), default=0)

    def snapshot(self) -> RootSnapshot:
        """What ``before_replace`` gets as the base: a lost or damaged root reads as empty."""
        return RootSnapshot(self.root or RootDocument.empty(), self.etag)


def repair_index(
    storage: Storage,
    *,
    serial: int | None = None,
    force: bool = False,
    before_replace: BeforeReplace | None = None,
    choose: str | None = None,
    without_history: bool = False,
) -> RepairResult:
    """Write ``index.json`` again; see the module docstring.

    ``serial``: the new root's serial; it must be above every serial known (recorded, or of the
    old root).  ``force``: rebuild a root that is still valid (same projects, ``serial + 1``).
    ``before_replace``: called with the base (an empty root for a lost or damaged one), the new
    root and its bytes just before the compare-and-swap.  ``choose``: the sha256 (or a prefix of
    at least 8 hex digits) of the recorded root to write (when the newest serial is ambiguous;
    with ``force``, instead of a valid root).
    ``without_history``: on an index without (enough) history, rebuild from the project
    documents anyway, at ``serial``, which is then required.

    Raises UsageError (nothing to repair, a serial too low, a bad choice), RepairRefusedError
    (what repair cannot know), PublishError (the root changed while repairing).
    """
    if serial is not None and serial < 1:
        raise UsageError(f"`serial` must be 1 or more, not {serial}", parameters=("serial",))
    if before_replace is None:
        _refuse_signed(storage)
    current = _current_root(storage)
    if current.state == "valid" and not force:
        raise UsageError(
            f"{storage.url}/{ROOT_KEY} is valid: nothing to repair (`index check` checks what it "
            "points at); pass `force` to write it again with the next serial",
            parameters=("force",),
        )
    records = history_keys(storage)
    top = max(records, default=None)
    result = RepairResult(
        url=storage.url, serial=0, previous_root=current.state, highest_recorded_serial=top
    )
    floor = max(top or 0, current.serial) + 1
    base = _base_root(storage, current, records, result, choose, serial, without_history)
    new_serial = _new_serial(serial, floor, current, top)
    bundles = {info.key for info in storage.list("bundles/")}
    chosen = _present_documents(storage, base, bundles, result)
    new_root = RootDocument(
        serial=new_serial,
        projects={name: ProjectEntry.for_document(d) for name, d in chosen.items()},
    )
    for document in chosen.values():
        # Content-addressed: an existing key already holds exactly these bytes.
        with contextlib.suppress(ObjectExistsError):
            storage.put_new(document.key, document.to_bytes())
    _replace_root(storage, current, new_root, before_replace)
    update_simple_pages(storage, new_root, chosen.values(), frozenset(chosen))
    result.serial = new_root.serial
    logger.info(
        "index repair: %s now at serial %d (from %s)", storage.url, new_root.serial, result.source
    )
    return result


def _refuse_signed(storage: Storage) -> None:
    """No signing hook: only an unsigned index may be rewritten (a signed one goes through
    dioptra_plugins.repair(..., keys=...), whose hook signs or refuses): the policy holds for
    every caller of :func:`repair_index` too, not just the public one."""
    from dioptra_plugins.signing import SigningError, is_signed

    if is_signed(storage):
        raise SigningError(
            f"{storage.url} is a signed index: repair it with its keys "
            "(dioptra_plugins.repair(..., keys=KEYDIR) or `index repair --keys KEYDIR`); "
            "nothing was changed"
        )


def _base_root(
    storage: Storage,
    current: _Current,
    records: dict[int, list[str]],
    result: RepairResult,
    choose: str | None,
    serial: int | None,
    without_history: bool,
) -> RootDocument:
    """The root to rebuild from (its source noted in ``result``): the one chosen, the current
    one if still valid, the newest recorded one if no newer root was lost, else the project
    documents (only when the caller stated what history cannot tell)."""
    top = max(records, default=None)
    if choose is not None:
        record = chosen_record(storage, records, choose, result.skipped_documents)
        result.source = record.key
        return record.root
    if current.root is not None:
        return current.root
    if top is not None and current.serial <= top:
        record = newest_committed(storage, records, result.skipped_documents)
        result.source = record.key
        return record.root
    _refuse_without_history(storage, current, top, serial, without_history)
    base = _root_from_documents(storage, result)
    result.source = WITHOUT_HISTORY
    return base


def _replace_root(
    storage: Storage,
    current: _Current,
    new_root: RootDocument,
    before_replace: BeforeReplace | None,
) -> None:
    """Record the swap, then compare-and-swap ``index.json`` from ``current`` to ``new_root``;
    PublishError (the record settled) if it changed meanwhile."""
    new_bytes = new_root.to_bytes()
    if before_replace is not None:
        before_replace(current.snapshot(), new_root, new_bytes)
    base_sha256 = sha256_hex(current.data) if current.data is not None else None
    recorded = record_swap(storage, new_root, new_bytes, base_sha256)
    try:
        storage.replace(ROOT_KEY, new_bytes, current.etag)
    except ConflictError:
        now = _current_root(storage)
        settle(storage, recorded, now.root)
        raise PublishError(
            f"{storage.url}/{ROOT_KEY} changed while repair ran (it is now {now.state}); "
            "nothing was replaced: run `index repair` again"
        ) from None


def _current_root(storage: Storage) -> _Current:
    try:
        stored = storage.get(ROOT_KEY)
    except ObjectNotFoundError:
        return _Current(None, None, None)
    try:
        return _Current(stored.etag, stored.data, RootDocument.from_bytes(stored.data))
    except DioptraPluginsError:
        return _Current(stored.etag, stored.data, None)


def _new_serial(serial: int | None, floor: int, current: _Current, top: int | None) -> int:
    if serial is None:
        if floor > MAX_INTEGER:
            raise UsageError(f"no serial is left above {floor - 1} (the largest is 2**63-1)")
        return floor
    if serial < floor:
        known = [f"the old root's {current.serial}"] if current.serial else []
        known += [f"the recorded {top}"] if top is not None else []
        raise UsageError(
            f"`serial` {serial} would move the serial back: it must be above "
            f"{' and '.join(known)} (at least {floor}), or workers that accepted those refuse it",
            parameters=("serial",),
        )
    return serial


def _refuse_without_history(
    storage: Storage, current: _Current, top: int | None, serial: int | None, stated: bool
) -> None:
    if stated and serial is not None:
        return
    if top is None:
        why = "the index has no history records (written by an older dioptra-plugins)"
        unknown = [
            "the order of yanks and unyanks (a rebuild from the project documents may undo a "
            "yank or bring back a yanked release)",
            "the highest serial a worker accepted (a root below it is refused by every worker "
            "that saw it)",
        ]
    else:
        why = (
            f"its damaged bytes show serial {current.serial}, above the newest history record "
            f"(serial {top}): roots were swapped without a record (by an older dioptra-plugins?)"
        )
        unknown = [
            f"what the swaps after serial {top} changed (publishes, yanks, unyanks)",
            "the highest serial a worker accepted",
        ]
    raise RepairRefusedError(
        f"{storage.url}/{ROOT_KEY} is {current.state} and {why}, so repair cannot know "
        f"{' nor '.join(unknown)}; if you know the highest serial workers accepted, pass "
        "--serial N (above it) with --without-history to rebuild from the project documents "
        "anyway (each project's document with the most files)",
        unknown=unknown,
        candidates=[],
        needed="--serial N --without-history",
    )


def _present_documents(
    storage: Storage, root: RootDocument, bundles: set[str], result: RepairResult
) -> dict[str, ProjectDocument]:
    """The documents ``root`` pins, without files whose bundle is gone."""
    chosen: dict[str, ProjectDocument] = {}
    for name, entry in sorted(root.projects.items()):
        try:
            document = read_project(storage, name, entry)
        except StorageOSError:
            raise  # the system refused the read: leaving the project out would lose it
        except DioptraPluginsError as error:
            logger.warning("index repair: leaving out %s: %s", name, error)
            result.skipped_documents.append(entry.document)
            continue
        files = [f for f in document.files if bundle_key(name, f.filename) in bundles]
        result.missing_bundles += [
            bundle_key(name, f.filename) for f in document.files if f not in files
        ]
        if not files:
            continue
        chosen[name] = document if len(files) == len(document.files) else document.with_files(files)
        result.projects[name] = len(files)
    return chosen


# --- without history (the old rebuild, only when the caller states the serial) ------------------


def _root_from_documents(storage: Storage, result: RepairResult) -> RootDocument:
    """For each project, the document describing the most files whose bundles exist (later
    documents only add files; among equals, the latest upload time).  Cannot know yank order."""
    bundles = {info.key for info in storage.list("bundles/")}
    documents: dict[str, list[ProjectDocument]] = defaultdict(list)
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
    projects = {
        name: ProjectEntry.for_document(
            max(candidates, key=lambda d: (_present(d, bundles), _newest_upload(d)))
        )
        for name, candidates in sorted(documents.items())
    }
    return RootDocument(serial=0, projects=projects)


def _present(document: ProjectDocument, bundles: set[str]) -> int:
    return sum(bundle_key(document.name, f.filename) in bundles for f in document.files)


def _newest_upload(document: ProjectDocument) -> str:
    return max((f.upload_time for f in document.files), default="")
