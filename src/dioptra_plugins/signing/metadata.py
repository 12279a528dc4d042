"""Writing the signed index: TUF metadata for the index root, with python-tuf's Metadata API.

The rule (DESIGN §10): never sign what the targets key did not sign.  Only a writer holding the
targets and snapshot keys puts new content under the signature, and only content it built
itself on a base it checked; ``index refresh``, which holds only the timestamp key, renews the
freshness of what was signed and never signs anything else.  :mod:`.policy` applies the rule to
every write path (:mod:`.refresh` to ``index refresh`` and ``index init --signed``); this module
holds the signing mechanism they use.

1. **Sign before the swap.**  Right before each compare-and-swap of ``index.json``
   (``swap.change_root``'s ``before_replace``), the writer signs targets (every bundle and
   project document of the new root, and the target ``index.json`` whose ``custom.index_root``
   is the exact new root bytes) and a snapshot pinning them, for version ``serial + 1``, and
   writes both create-only as ``tuf/pending/<sha256 of the new root bytes>.targets.json`` /
   ``.snapshot.json``.  A writer that loses the swap leaves them unused (they pin a root that
   never became current; a later attempt signs its own).
2. **Promote after the swap.**  The winner copies them, create-only, to the consistent-snapshot
   names ``tuf/<v>.targets.json`` and ``tuf/<v>.snapshot.json`` (adopting an existing file
   that pins the same root), then moves ``tuf/timestamp.json`` forward by compare-and-swap on
   its ETag (a timestamp already on a newer version is left alone: that root contains ours).
3. **Never build on an unchecked base.**  Before signing, the writer checks that the root it is
   changing is the root the signed metadata pins (timestamp -> snapshot -> targets ->
   ``index.json`` target, each verified), or one with valid pending metadata above it (a
   publisher that died between its swap and its promotion, or one promoting right now).
   Anything else (a bucket writer's root, a rolled-back root, a lost ``index.json``) is
   refused before anything is written, naming which projects, versions and yanks differ.
4. **Refresh completes, never signs content.**  ``index refresh`` (``timestamp.pem`` and
   ``root.json`` suffice) re-signs the timestamp of the signed state.  When the current root
   has pending metadata above the signed version, it verifies it (signed by the trusted
   root's targets and snapshot keys, pinning exactly the current ``index.json`` bytes) and
   promotes it: a crashed publisher is completed by the signature it made itself.  Any other
   root is reported and left unsigned.
5. Targets and snapshot expire after a year; every publish, yank or unyank signs new ones, and
   ``index renew`` (a publisher's operation, with those keys) re-signs an unchanged root under
   the next serial.  ``index renew --restore`` swaps the signed root's content back in (with
   a serial above the current one) after a bucket writer replaced ``index.json``.

Limits: a bucket writer can still withhold or delete (workers stay on what they have until the
timestamp expires, then refuse), and, when a publisher died before promoting, choose which of
the roots a key holder signed for that serial (a lost attempt's pending files) becomes current.
``index init --signed`` on an index that is not signed yet vouches for the root it finds.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp  # type: ignore[attr-defined]
from tuf.api.serialization.json import JSONSerializer

from dioptra_plugins.errors import (
    ConflictError,
    ObjectExistsError,
    ObjectNotFoundError,
)
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.signing import SigningError
from dioptra_plugins.signing.keys import ROLES, load_signer, root_history
from dioptra_plugins.signing.names import (
    SETTINGS_FIELD,
    TIMESTAMP_KEY,
    metadata_key,
    metadata_version,
    pending_key,
)
from dioptra_plugins.signing.outcome import FoundTimestamp, Pending
from dioptra_plugins.signing.signed_state import SignedStateReader, meta_of, pins
from dioptra_plugins.signing.targets import index_targets

log = logging.getLogger(__name__)

DEFAULT_TIMESTAMP_EXPIRY = 86_400
"""Seconds a timestamp is valid (``index init --timestamp-expiry``): a day, refreshed by cron."""
METADATA_EXPIRY = timedelta(days=365)
"""Targets and snapshot: signed anew by every publish, yank and ``index renew``."""
ROOT_EXPIRY = timedelta(days=5 * 365)
RENEW_MARGIN = timedelta(days=30)
MAX_ATTEMPTS = 50

_COMPACT = JSONSerializer(compact=True)


def _now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class IndexSigner(SignedStateReader):
    """Signs one index with the keys of ``keydir`` (only the roles a call needs must be there).

    ``extra`` adds signers that sign beside the directory's own (``keys rotate`` signs with the
    old and the new key of a role, so workers on either root version accept the metadata).
    Which operation may sign what is decided by :mod:`dioptra_plugins.signing.policy`.
    """

    def __init__(
        self,
        keydir: Path,
        *,
        extra: Mapping[str, Sequence[CryptoSigner]] | None = None,
    ) -> None:
        super().__init__(keydir)
        self.signers: dict[str, list[CryptoSigner]] = {}
        for role in ROLES:
            signer = load_signer(self.keydir, role)
            if signer is None:
                continue
            if signer.public_key.keyid not in self.root.signed.roles[role].keyids:
                raise SigningError(
                    f"{self.keydir / (role + '.pem')} is not a {role} key of the root in "
                    f"{self.keydir / 'root.json'} (version {self.root.signed.version})"
                )
            self.signers[role] = [signer]
        for role, signers in (extra or {}).items():
            self.signers.setdefault(role, []).extend(signers)

    # --- signing and verifying one document ------------------------------------------------

    def require(self, *roles: str, action: str = "signing this") -> None:
        """Refuse, naming the missing keys, unless every role of ``roles`` can sign."""
        missing = [role for role in roles if not self.signers.get(role)]
        if missing:
            names = " and ".join(f"{role}.pem" for role in missing)
            raise SigningError(f"{self.keydir} has no {names}, which {action} needs")

    def _sign(self, signed: Root | Timestamp | Snapshot | Targets, role: str) -> bytes:
        self.require(role)
        signers = self.signers[role]
        metadata: Metadata[Any] = Metadata(cast(Any, signed))
        for number, signer in enumerate(signers):
            metadata.sign(signer, append=number > 0)
        return metadata.to_bytes(_COMPACT)

    # --- signing before the swap, promoting after it ---------------------------------------

    def sign_pending(
        self,
        storage: Storage,
        root: RootDocument,
        root_bytes: bytes,
        previous: Targets | None,
    ) -> Pending:
        """Sign targets and snapshot for ``root`` (not yet swapped in) under ``tuf/pending/``.

        ``previous``: verified targets of the base root, whose entries for unchanged projects
        are reused.  Create-only; an existing file signing this very root is adopted.
        """
        self.require("targets", "snapshot")
        version = metadata_version(root.serial)
        root_sha256 = sha256_hex(root_bytes)
        expires = _now() + METADATA_EXPIRY
        targets = Targets(
            version=version,
            expires=expires,
            targets=index_targets(storage, root, root_bytes, previous),
        )
        targets_bytes = self._put_or_adopt(
            storage,
            pending_key("targets", root_sha256),
            self._sign(targets, Targets.type),
            Targets.type,
            lambda metadata: pins(metadata, root_sha256, version),
        )
        targets_meta = meta_of(targets_bytes, version)
        snapshot = Snapshot(version=version, expires=expires, meta={"targets.json": targets_meta})
        snapshot_bytes = self._put_or_adopt(
            storage,
            pending_key("snapshot", root_sha256),
            self._sign(snapshot, Snapshot.type),
            Snapshot.type,
            lambda metadata: (
                metadata.signed.version == version
                and metadata.signed.meta.get("targets.json") == targets_meta
            ),
        )
        log.info("signed serial %d of %s before its swap", root.serial, storage.url)
        signed = Metadata[Targets].from_bytes(targets_bytes).signed
        return Pending(version, root_sha256, signed, targets_bytes, snapshot_bytes)

    def promote(self, storage: Storage, pending: Pending) -> MetaFile:
        """Put ``pending`` under its consistent-snapshot names; the snapshot's meta.

        Create-only; an existing targets file signing the same root is adopted (with the
        snapshot that pins it).  Needs no key: everything here was signed before.
        """
        version = pending.version
        targets_bytes = self._put_or_adopt(
            storage,
            metadata_key("targets", version),
            pending.targets_bytes,
            Targets.type,
            lambda metadata: pins(metadata, pending.root_sha256, version),
        )
        targets_meta = meta_of(targets_bytes, version)
        snapshot_bytes = self._put_or_adopt(
            storage,
            metadata_key("snapshot", version),
            pending.snapshot_bytes if targets_bytes == pending.targets_bytes else None,
            Snapshot.type,
            lambda metadata: (
                metadata.signed.version == version
                and metadata.signed.meta.get("targets.json") == targets_meta
            ),
        )
        return meta_of(snapshot_bytes, version)

    def sign_as_is(self, storage: Storage, root_bytes: bytes) -> MetaFile:
        """Sign ``root_bytes`` with no base check: only the first signing of an index
        (``index init --signed``), where the owner vouches for the root as it is."""
        root = RootDocument.from_bytes(root_bytes, what=f"{storage.url}/index.json")
        pending = self.sign_pending(storage, root, root_bytes, None)
        return self.promote(storage, pending)

    # --- steps -----------------------------------------------------------------------------

    def _put_or_adopt(
        self,
        storage: Storage,
        key: str,
        data: bytes | None,
        role: str,
        acceptable: Callable[[Metadata[Any]], bool],
    ) -> bytes:
        """Create ``key`` (unless ``data`` is None); an existing acceptable file is used."""
        if data is not None:
            try:
                storage.put_new(key, data)
                return data
            except ObjectExistsError:
                pass
        try:
            existing = storage.get(key).data
        except ObjectNotFoundError:
            raise SigningError(
                f"{storage.url}/{key} does not exist and these keys cannot write it"
            ) from None
        if existing == data:
            return existing
        metadata = self._verified(existing, role)
        if metadata is None or not acceptable(metadata):
            raise SigningError(
                f"{storage.url}/{key} already exists and is not {role} metadata of this index "
                "root signed by these keys (a forgery, or another key directory signed it)"
            )
        log.info("%s was written by another signer; using it", key)
        return existing

    def upload_root_history(self, storage: Storage) -> None:
        """Every root version of the key directory into ``tuf/`` (create-only, or identical)."""
        for version, data in sorted(root_history(self.keydir).items()):
            key = metadata_key("root", version)
            try:
                storage.put_new(key, data)
            except ObjectExistsError:
                existing = storage.get(key).data
                if existing != data:
                    raise SigningError(
                        f"{storage.url}/{key} already exists and differs from the root "
                        f"version {version} of {self.keydir}: this index is signed with "
                        "other keys"
                    ) from None

    def point_timestamp(
        self,
        storage: Storage,
        snapshot_meta: MetaFile,
        expiry: int | None,
        *,
        force: bool,
        first: FoundTimestamp | None = None,
    ) -> tuple[str, int, str | None]:
        """Compare-and-swap the timestamp onto ``snapshot_meta``, never backwards.

        ``first`` is the timestamp as the caller just read it (the first attempt's ETag);
        ``expiry`` None keeps the expiry the index's timestamp records (default a day).
        """
        for attempt in range(1, MAX_ATTEMPTS + 1):
            current = first if attempt == 1 and first is not None else self.read_timestamp(storage)
            if current.snapshot_version > snapshot_meta.version:
                return "newer", current.version, None
            if current.snapshot_version == snapshot_meta.version and not force:
                return "current", current.version, None
            seconds = expiry or current.expiry_seconds or DEFAULT_TIMESTAMP_EXPIRY
            version = max(current.version + 1, int(time.time()))
            expires = _now() + timedelta(seconds=seconds)
            timestamp = Timestamp(
                version=version,
                expires=expires,
                snapshot_meta=snapshot_meta,
                unrecognized_fields={SETTINGS_FIELD: {"timestamp_expiry": seconds}},
            )
            try:
                storage.replace(TIMESTAMP_KEY, self._sign(timestamp, Timestamp.type), current.etag)
            except ConflictError:
                # Another signer moved it: theirs is as fresh as ours if it points as far.
                force = False
                time.sleep(random.uniform(0, min(1.0, 0.01 * 2 ** min(attempt, 10))))
                continue
            return "written", version, iso(timestamp.expires)
        raise SigningError(f"gave up writing {storage.url}/{TIMESTAMP_KEY}: it kept changing")
