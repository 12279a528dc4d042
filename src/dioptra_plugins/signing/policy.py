"""The signing policy: what every write to an index may sign, or must refuse (DESIGN §10).

Every write path of the library obeys it, whoever calls (the command line only parses, calls and
prints): ``publishing.publish.publish``, ``publishing.yank.set_yanked``, ``index repair``,
``index init --signed``, ``index refresh``, :meth:`SignedWriter.swap_unchanged` (``index
renew``) and ``keys rotate``.

- **An unsigned index** (no ``tuf/timestamp.json``) and no keys: the write goes ahead unsigned.
- **A signed index and no keys**: refused before anything is written (:func:`writer_for`).
- **Keys of another index, or lacking a role the write needs**: refused likewise.
- **A signed index and its keys**: a :class:`SignedWriter` checks the base root of each swap
  attempt against the signed metadata, signs the new root before the swap and promotes that
  signature after winning it (see :mod:`dioptra_plugins.signing.metadata` for the design).
  A base that is neither the signed root nor one a key holder signed is refused
  (:class:`~dioptra_plugins.signing.UnsignedRootError`, naming the differences), before
  anything is written: a publisher never signs a bucket writer's root by building on it.
- **The timestamp key alone** (``index refresh``) renews freshness and signs no content, and
  ``index init --signed`` vouches for an unsigned root only the first time: both in
  :mod:`dioptra_plugins.signing.refresh`.
"""

from __future__ import annotations

import logging
import os
import random
import time
from pathlib import Path

from tuf.api.metadata import Targets  # type: ignore[attr-defined]

from dioptra_plugins.errors import (
    ConflictError,
    DioptraPluginsError,
    IndexFormatError,
    ObjectNotFoundError,
    UsageError,
)
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.history import history_keys, recorded_replace
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.reading import RootSnapshot, read_project
from dioptra_plugins.index.simple import update_simple_pages
from dioptra_plugins.index.storage import Storage, StoredObject
from dioptra_plugins.signing import KEYS_VARIABLE, SigningError, UnsignedRootError, is_signed
from dioptra_plugins.signing.differences import RootDifference, root_differences
from dioptra_plugins.signing.metadata import MAX_ATTEMPTS, IndexSigner, iso
from dioptra_plugins.signing.names import metadata_version
from dioptra_plugins.signing.outcome import Pending, SignedState, SignResult

log = logging.getLogger(__name__)

WRITER_ROLES = ("targets", "snapshot", "timestamp")
"""The keys a write that changes the index's content needs (the publisher's)."""
_UNCHANGED = (
    "nothing was changed (a publisher restores the signed root with `dioptra-plugins index "
    "renew --restore`)"
)


def writer_for(
    storage: Storage, keys: str | os.PathLike[str] | None, *, action: str
) -> SignedWriter | None:
    """The signer of one write (``action`` names it in refusals), checked before any write.

    None for an unsigned index written without keys.  Refuses (SigningError) a signed index
    without keys, keys that are not this index's, and a key directory lacking a role.
    """
    if keys is None:
        if is_signed(storage):
            raise SigningError(
                f"{storage.url} is a signed index: pass --keys KEYDIR (keys= in Python, or "
                f"${KEYS_VARIABLE}) so that workers which verify it see the change; {action} "
                "changed nothing"
            )
        return None
    signer = IndexSigner(Path(keys))
    signer.require(*WRITER_ROLES, action=action)
    signer.check_index(storage)
    return SignedWriter(storage, signer)


class SignedWriter:
    """Signs one write to a signed index: check the base, sign before the swap, promote after.

    ``before_replace`` has the type of ``index.swap.BeforeReplace``: pass it to
    ``change_root`` (or any swap), then call :meth:`after_swap` with the root that won.
    """

    def __init__(self, storage: Storage, signer: IndexSigner) -> None:
        self.storage = storage
        self.signer = signer
        self._pending: Pending | None = None

    @property
    def url(self) -> str:
        return self.storage.url

    # --- the base ----------------------------------------------------------------------------

    def state(self) -> SignedState:
        state = self.signer.signed_state(self.storage)
        if state.root is None:
            raise SigningError(
                f"{self.url} is signed but holds no signed metadata that the keys in "
                f"{self.signer.keydir} verify (tuf/timestamp.json and every snapshot are "
                "missing or foreign); nothing was changed"
            )
        return state

    def checked_base(
        self, base: RootDocument | None, state: SignedState, *, outcome: str
    ) -> Targets | None:
        """The verified targets signing ``base`` (None: none to reuse); refuses any other base.

        ``base`` None: ``index.json`` is missing or unreadable.
        """
        assert state.root is not None
        if base is not None and base == state.root:
            return state.targets
        if base is not None and base.serial > state.root.serial:
            pending = self.signer.find_pending(self.storage, base.to_bytes())
            if pending is not None and pending.version > state.version:
                log.info(
                    "%s: serial %d was signed before its swap but not yet promoted; building on it",
                    self.url,
                    base.serial,
                )
                return pending.targets
        raise UnsignedRootError(
            self.url,
            signed_serial=state.root.serial,
            found_serial=base.serial if base is not None else None,
            differences=root_differences(self.storage, state.root, base),
            outcome=outcome,
        )

    # --- around each swap --------------------------------------------------------------------

    def check(self, base: RootSnapshot) -> None:
        """Refuse now, before a write's first upload, to build on an unchecked base.

        (Each swap attempt checks its own base again in :meth:`before_replace`.)
        """
        state = self.state()
        root = base.root if base.exists else None
        if not self._overtaken(root, state):
            self.checked_base(root, state, outcome=_UNCHANGED)

    def _overtaken(self, root: RootDocument | None, state: SignedState) -> bool:
        """``root`` was signed once and another writer has since swapped and signed a newer
        one (this writer read it before that): not a base to refuse, merely a stale one."""
        assert state.root is not None
        return (
            root is not None
            and root.serial < state.root.serial
            and self.signer.was_signed(self.storage, root)
        )

    def before_replace(self, base: RootSnapshot, new_root: RootDocument, new_bytes: bytes) -> None:
        """Check ``base``, then sign ``new_root`` (exactly ``new_bytes``) before its swap."""
        state = self.state()
        assert state.root is not None
        root = base.root if base.exists else None
        if self._overtaken(root, state):
            # This compare-and-swap fails and the next attempt reads the new root.  Nothing is
            # signed: a signature for a serial already signed could never be put in place, and
            # should the swap win anyway (index.json rolled back to these very bytes),
            # after_swap finds nothing signed and says so.
            self._pending = None
            return
        previous = self.checked_base(root, state, outcome=_UNCHANGED)
        self._pending = self.signer.sign_pending(self.storage, new_root, new_bytes, previous)

    def before_rebuild(self, base: RootSnapshot, new_root: RootDocument, new_bytes: bytes) -> None:
        """``index repair``'s check: the rebuilt root must hold exactly the signed content.

        A rebuild comes from what the bucket holds (history records, project documents), which
        anyone with write access could have planted; only the content the targets key signed
        is signed again, under the rebuilt root's (higher) serial.
        """
        state = self.state()
        assert state.root is not None
        if new_root.projects != state.root.projects or new_root.serial <= state.root.serial:
            raise UnsignedRootError(
                self.url,
                signed_serial=state.root.serial,
                found_serial=new_root.serial,
                differences=root_differences(self.storage, state.root, new_root),
                outcome=(
                    "index repair changed nothing: the rebuilt root is not the signed content "
                    "(`dioptra-plugins index renew --restore` puts the signed root back)"
                ),
            )
        self._pending = self.signer.sign_pending(self.storage, new_root, new_bytes, state.targets)

    def after_swap(self, root: RootDocument | None = None) -> SignResult:
        """Promote the metadata signed for the root that won the swap (``root``; None: the
        last one signed here), then move the timestamp onto it."""
        pending = self._pending
        if pending is None or (
            root is not None and pending.version != metadata_version(root.serial)
        ):
            raise SigningError(f"{self.url}: a root was swapped in that was not signed here")
        serial = pending.version - 1
        try:
            meta = self.signer.promote(self.storage, pending)
            outcome, version, expires = self.signer.point_timestamp(
                self.storage, meta, None, force=True
            )
        except DioptraPluginsError as error:
            raise SigningError(
                f"{self.url}/index.json is now serial {serial}, signed before its swap, "
                f"but putting that signature in place failed: {error}; workers that verify "
                f"stay on the previous signed serial until `dioptra-plugins index refresh "
                f"--index {self.url}` completes it (the timestamp key is enough)"
            ) from error
        return SignResult(
            self.url,
            serial,
            True,
            outcome,
            version,
            expires,
            metadata_expires=iso(pending.targets.expires),
        )

    # --- writes of its own -------------------------------------------------------------------

    def swap_unchanged(self, *, restore: bool = False) -> SignResult:
        """Sign the current root's content anew under the next serial (``index renew``).

        Targets and snapshot get new versions and a new year (and, during ``keys rotate``,
        the new key's signature).  ``restore`` swaps the signed root's content back in, with
        a serial above the current one, over a root that is not signed (a bucket writer's,
        a damaged or a lost one); it refuses when the current root is signed.
        """
        for attempt in range(1, MAX_ATTEMPTS + 1):
            state = self.state()
            etag, current = _current_root(self.storage)
            differences: list[RootDifference] = []
            if restore:
                new_root, new_bytes, differences = self._sign_restored(state, current)
            else:
                new_root, new_bytes = self._sign_renewed(state, current, etag)
            try:
                # Recorded like every swap (index.history), so a repair knows this serial.
                recorded_replace(
                    self.storage,
                    RootSnapshot(current or RootDocument.empty(), etag),
                    new_root,
                    new_bytes,
                )
            except ConflictError:
                time.sleep(random.uniform(0, min(1.0, 0.01 * 2 ** min(attempt, 10))))
                continue
            if restore:
                self._restore_pages(new_root, differences)
            return self.after_swap(new_root)
        raise SigningError(f"gave up re-signing {self.url}: its root kept changing")

    def _sign_renewed(
        self, state: SignedState, current: RootDocument | None, etag: str | None
    ) -> tuple[RootDocument, bytes]:
        """``index renew``: the current root's content under the next serial, its base checked
        and the new root signed before its swap."""
        assert state.root is not None
        if current is None:
            raise UnsignedRootError(
                self.url,
                signed_serial=state.root.serial,
                found_serial=None,
                differences=root_differences(self.storage, state.root, None),
                outcome="nothing was changed (`index renew --restore` restores it)",
            )
        new_root = current.with_projects({})
        new_bytes = new_root.to_bytes()
        self.before_replace(RootSnapshot(current, etag), new_root, new_bytes)
        return new_root, new_bytes

    def _sign_restored(
        self, state: SignedState, current: RootDocument | None
    ) -> tuple[RootDocument, bytes, list[RootDifference]]:
        """``index renew --restore``: the signed root's content above every serial seen, signed
        before its swap, and how the current root differs; refuses when that root is signed."""
        assert state.root is not None
        try:
            self.checked_base(current, state, outcome="")
        except UnsignedRootError as error:
            differences: list[RootDifference] = error.differences
        else:
            raise UsageError(
                f"{self.url}/index.json is signed (serial "
                f"{current.serial if current else '?'}): nothing to restore"
            )
        # Above every recorded serial too: a worker may have accepted any of them.
        recorded = max(history_keys(self.storage), default=0)
        serial = max(current.serial if current else 0, state.root.serial, recorded) + 1
        new_root = RootDocument(serial=serial, projects=state.root.projects)
        new_bytes = new_root.to_bytes()
        self._pending = self.signer.sign_pending(self.storage, new_root, new_bytes, state.targets)
        return new_root, new_bytes, differences

    def _restore_pages(self, new_root: RootDocument, differences: list[RootDifference]) -> None:
        """The simple pages of the projects a restore changed back (after its swap)."""
        changed = sorted({d.project for d in differences})
        documents = [
            read_project(self.storage, name, new_root.projects[name])
            for name in changed
            if name in new_root.projects
        ]
        update_simple_pages(self.storage, new_root, documents, frozenset(changed))
        log.info("restored the signed root of %s at serial %d", self.url, new_root.serial)


def _current_root(storage: Storage) -> tuple[str | None, RootDocument | None]:
    """(ETag to swap against, the root) as found; None for a missing or unreadable root."""
    stored, root = read_current_root(storage)
    return (stored.etag if stored is not None else None), root


def read_current_root(storage: Storage) -> tuple[StoredObject | None, RootDocument | None]:
    """``index.json`` as stored and as parsed; None for a missing (or an unreadable) root."""
    try:
        stored = storage.get(ROOT_KEY)
    except ObjectNotFoundError:
        return None, None
    try:
        return stored, RootDocument.from_bytes(stored.data)
    except IndexFormatError:
        return stored, None
