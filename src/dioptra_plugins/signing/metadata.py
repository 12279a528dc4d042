"""Writing the signed index: TUF metadata for the index root, with python-tuf's Metadata API.

The root swap of ``index.json`` stays the one commit point of the index (DESIGN §4).  The
metadata for serial ``s`` is written only from a root that won its swap (``sign_current``
reads ``index.json``), so a publisher that loses the compare-and-swap has signed nothing and
simply signs the root it wins next, and nobody else can ever claim version ``s + 1``:

1. ``tuf/<s+1>.targets.json`` (create-only): every bundle and every current project document
   as a target (length + sha256), and the target ``index.json`` whose ``custom.index_root``
   is the exact root bytes; a verifying worker reads the root from here, never from the
   unsigned ``index.json``;
2. ``tuf/<s+1>.snapshot.json`` (create-only) pinning that targets file by version, length and
   sha256;
3. ``tuf/timestamp.json``, replaced by compare-and-swap on its ETag and only forward: a signer
   that finds a timestamp for a newer serial stops (its own root is contained in that one).

Two signers of the same serial (a publisher and ``index refresh``) may race on 1 and 2: the
loser adopts the file that won after checking it is signed by this root's keys and signs the
same index root.  A crash between the root swap and step 3 leaves workers on the previous
signed serial (consistent, one publish behind) until the next publish or ``index refresh``.
"""

from __future__ import annotations

import contextlib
import logging
import random
import time
from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, cast

from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]
from tuf.api.exceptions import UnsignedMetadataError
from tuf.api.metadata import (  # type: ignore[attr-defined]
    Metadata,
    MetaFile,
    Root,
    Snapshot,
    Targets,
    Timestamp,
)
from tuf.api.serialization.json import JSONSerializer

from dioptra_plugins.errors import (
    ConflictError,
    ObjectExistsError,
    ObjectNotFoundError,
)
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.storage import Storage, StoredObject
from dioptra_plugins.signing import SigningError
from dioptra_plugins.signing.keys import ROLES, load_signer, read_trusted_root, root_history
from dioptra_plugins.signing.names import (
    INDEX_TARGET,
    SETTINGS_FIELD,
    TIMESTAMP_KEY,
    metadata_version,
    root_key,
    snapshot_key,
    targets_key,
)
from dioptra_plugins.signing.outcome import FoundTimestamp, SignResult
from dioptra_plugins.signing.targets import index_targets

log = logging.getLogger(__name__)

DEFAULT_TIMESTAMP_EXPIRY = 86_400
"""Seconds a timestamp is valid (``index init --timestamp-expiry``): a day, refreshed by cron."""
METADATA_EXPIRY = timedelta(days=365)
"""Targets and snapshot: re-signed by every publish, and by ``index refresh`` near expiry."""
ROOT_EXPIRY = timedelta(days=5 * 365)
RENEW_MARGIN = timedelta(days=30)
MAX_ATTEMPTS = 50

_COMPACT = JSONSerializer(compact=True)


def _now() -> datetime:
    return datetime.now(UTC)


def iso(moment: datetime) -> str:
    return moment.strftime("%Y-%m-%dT%H:%M:%SZ")


class IndexSigner:
    """Signs one index with the keys of ``keydir`` (only the roles a call needs must be there).

    ``extra`` adds signers that sign beside the directory's own (``keys rotate`` signs with the
    old and the new key of a role, so workers on either root version accept the metadata).
    """

    def __init__(
        self,
        keydir: Path,
        *,
        extra: Mapping[str, Sequence[CryptoSigner]] | None = None,
    ) -> None:
        self.keydir = Path(keydir)
        self.root = read_trusted_root(self.keydir)
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

    def _sign(self, signed: Root | Timestamp | Snapshot | Targets, role: str) -> bytes:
        self._require(role)
        signers = self.signers[role]
        metadata: Metadata[Any] = Metadata(cast(Any, signed))
        for number, signer in enumerate(signers):
            metadata.sign(signer, append=number > 0)
        return metadata.to_bytes(_COMPACT)

    def _verified(self, data: bytes, role: str) -> Metadata[Any] | None:
        """``data`` parsed, when it is ``role`` metadata signed by this root's keys."""
        try:
            metadata: Metadata[Any] = Metadata.from_bytes(data)
            if metadata.signed.type != role:
                return None
            self.root.signed.verify_delegate(role, metadata.signed_bytes, metadata.signatures)
        except (UnsignedMetadataError, ValueError, KeyError, TypeError) as error:
            log.debug("%s metadata does not verify: %s", role, error)
            return None
        except Exception as error:  # the deserializer's own errors: not our metadata either
            log.debug("%s metadata does not parse: %s", role, error)
            return None
        return metadata

    # --- the index as found ----------------------------------------------------------------

    def check_index(self, storage: Storage) -> None:
        """Refuse an index these keys cannot sign: not signed, another root, or a newer one.

        Cost: two requests (this root version, and the next, which must not exist).
        """
        version = self.root.signed.version
        try:
            stored = storage.get(root_key(version)).data
        except ObjectNotFoundError:
            raise SigningError(
                f"{storage.url} is not signed by the root in {self.keydir / 'root.json'} "
                f"({root_key(version)} does not exist); create the signed metadata with "
                f"`dioptra-plugins index init {storage.url} --signed --keys {self.keydir}`"
            ) from None
        if self._verified(stored, Root.type) is None or (
            Metadata.from_bytes(stored).signed != self.root.signed
        ):
            raise SigningError(
                f"{storage.url}/{root_key(version)} is not the root in "
                f"{self.keydir / 'root.json'}: this index is signed with other keys"
            )
        try:
            storage.get(root_key(version + 1))
        except ObjectNotFoundError:
            return
        raise SigningError(
            f"{storage.url} has root version {version + 1}, newer than "
            f"{self.keydir / 'root.json'} (version {version}): copy the key directory of "
            "the last `keys rotate`"
        )

    def _read_timestamp(self, storage: Storage) -> FoundTimestamp:
        try:
            stored = storage.get(TIMESTAMP_KEY)
        except ObjectNotFoundError:
            return FoundTimestamp(None, 0, None)
        metadata = self._verified(stored.data, Timestamp.type)
        if metadata is not None:
            return FoundTimestamp(stored.etag, metadata.signed.version, metadata.signed)
        # Not ours (garbage, a forgery, or signed by a rotated-out key): overwrite it, but
        # still above its version, so that no worker that believed it sees a rollback.
        version = 0
        with contextlib.suppress(Exception):  # unparseable: nothing to stay above
            version = int(Metadata.from_bytes(stored.data).signed.version)
        return FoundTimestamp(stored.etag, version, None)

    def _read_index_root(self, storage: Storage) -> tuple[StoredObject, RootDocument]:
        try:
            stored = storage.get(ROOT_KEY)
        except ObjectNotFoundError:
            raise SigningError(
                f"no index at {storage.url} ({ROOT_KEY} does not exist): run "
                "`dioptra-plugins index init` first"
            ) from None
        return stored, RootDocument.from_bytes(stored.data, what=f"{storage.url}/{ROOT_KEY}")

    # --- the public operations -------------------------------------------------------------

    def initialize(self, storage: Storage, *, timestamp_expiry: int | None = None) -> SignResult:
        """Upload every root version of the key directory, then sign the current index root."""
        for version, data in sorted(root_history(self.keydir).items()):
            key = root_key(version)
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
        return self.sign_current(storage, timestamp_expiry=timestamp_expiry, force_timestamp=True)

    def sign_current(
        self,
        storage: Storage,
        *,
        timestamp_expiry: int | None = None,
        force_timestamp: bool = False,
        fresh_snapshot: bool = False,
        renew: bool = False,
    ) -> SignResult:
        """Make the signed metadata cover the index root as it is now.

        Signs targets and snapshot for the current serial unless they exist already, then moves
        the timestamp there.  ``force_timestamp`` re-signs the timestamp even when it already
        points there (``index refresh``); ``fresh_snapshot`` insists on new targets and
        snapshot versions (``keys rotate``) and ``renew`` on new ones when the current expire
        within 30 days: both advance the index serial with an unchanged root swap when the
        current serial is already signed.
        """
        for _attempt in range(MAX_ATTEMPTS):
            stored, root = self._read_index_root(storage)
            current = self._read_timestamp(storage)
            version = metadata_version(root.serial)
            if current.snapshot_version > version:
                # Read the root, then someone swapped and signed a newer one: it contains ours.
                return SignResult(
                    storage.url, current.snapshot_version - 1, False, "newer", current.version, None
                )
            if current.snapshot_version == version and (
                fresh_snapshot or (renew and self._renewable(storage, version))
            ):
                self._require("targets", "snapshot")  # before the root changes
                if self._advance_serial(storage, stored, root):
                    fresh_snapshot = renew = False
                continue
            wrote = current.snapshot_version < version
            if wrote:
                self._require("targets", "snapshot", "timestamp")
                snapshot_meta = self._sign_serial(storage, root, stored.data, current)
            else:
                snapshot_meta = self._current_snapshot_meta(storage, version, current)
            expiry = timestamp_expiry or current.expiry_seconds or DEFAULT_TIMESTAMP_EXPIRY
            outcome, ts_version, expires = self._point_timestamp(
                storage, snapshot_meta, expiry, force=force_timestamp or wrote, first=current
            )
            return SignResult(storage.url, root.serial, wrote, outcome, ts_version, expires)
        raise SigningError(f"gave up signing {storage.url}: its root kept changing")

    # --- steps -----------------------------------------------------------------------------

    def _require(self, *roles: str) -> None:
        missing = [role for role in roles if not self.signers.get(role)]
        if missing:
            raise SigningError(
                f"{self.keydir} has no {' or '.join(missing)} key, which signing this needs"
            )

    def _renewable(self, storage: Storage, version: int) -> bool:
        """Targets and snapshot expire within 30 days and this signer can re-sign them."""
        try:
            data = storage.get(snapshot_key(version)).data
        except ObjectNotFoundError:
            return False
        metadata = self._verified(data, Snapshot.type)
        if metadata is None or metadata.signed.expires - _now() >= RENEW_MARGIN:
            return False
        if self.signers.get("targets") and self.signers.get("snapshot"):
            return True
        log.warning(
            "%s: targets and snapshot metadata expire at %s; re-sign them with a key directory "
            "holding targets.pem and snapshot.pem (index refresh or a publish)",
            storage.url,
            iso(metadata.signed.expires),
        )
        return False

    def _advance_serial(self, storage: Storage, stored: StoredObject, root: RootDocument) -> bool:
        """An unchanged root with the next serial, so that new metadata versions can sign it."""
        try:
            storage.replace(ROOT_KEY, root.with_projects({}).to_bytes(), stored.etag)
        except ConflictError:
            return False  # someone else swapped it: that new serial is the one to sign
        log.info("advanced %s to serial %d to re-sign it", storage.url, root.serial + 1)
        return True

    def _current_snapshot_meta(
        self, storage: Storage, version: int, current: FoundTimestamp
    ) -> MetaFile:
        if current.verified is not None and current.verified.snapshot_meta.version == version:
            return current.verified.snapshot_meta
        data = storage.get(snapshot_key(version)).data
        if self._verified(data, Snapshot.type) is None:
            raise SigningError(f"{storage.url}/{snapshot_key(version)} is not signed by these keys")
        return MetaFile(version, len(data), {"sha256": sha256_hex(data)})

    def _sign_serial(
        self, storage: Storage, root: RootDocument, root_bytes: bytes, current: FoundTimestamp
    ) -> MetaFile:
        """Targets and snapshot for ``root`` (create-only, or adopted); the snapshot's meta."""
        version = metadata_version(root.serial)
        expires = _now() + METADATA_EXPIRY
        previous = self._previous_targets(storage, current)
        targets = Targets(
            version=version,
            expires=expires,
            targets=index_targets(storage, root, root_bytes, previous),
        )
        root_sha256 = sha256_hex(root_bytes)

        def signs_this_root(metadata: Metadata[Any]) -> bool:
            target = metadata.signed.targets.get(INDEX_TARGET)
            return target is not None and target.hashes.get("sha256") == root_sha256

        targets_bytes = self._put_or_adopt(
            storage,
            targets_key(version),
            self._sign(targets, Targets.type),
            Targets.type,
            signs_this_root,
        )
        targets_meta = MetaFile(version, len(targets_bytes), {"sha256": sha256_hex(targets_bytes)})
        snapshot = Snapshot(version=version, expires=expires, meta={"targets.json": targets_meta})
        snapshot_bytes = self._put_or_adopt(
            storage,
            snapshot_key(version),
            self._sign(snapshot, Snapshot.type),
            Snapshot.type,
            lambda metadata: metadata.signed.meta.get("targets.json") == targets_meta,
        )
        log.info(
            "signed serial %d of %s (%d targets)", root.serial, storage.url, len(targets.targets)
        )
        return MetaFile(version, len(snapshot_bytes), {"sha256": sha256_hex(snapshot_bytes)})

    def _previous_targets(self, storage: Storage, current: FoundTimestamp) -> Targets | None:
        """The targets the timestamp signs now (to reuse unchanged projects' entries)."""
        if current.snapshot_version == 0:
            return None
        try:
            data = storage.get(targets_key(current.snapshot_version)).data
        except ObjectNotFoundError:
            return None
        metadata = self._verified(data, Targets.type)
        return metadata.signed if metadata is not None else None

    def _put_or_adopt(
        self,
        storage: Storage,
        key: str,
        data: bytes,
        role: str,
        acceptable: Callable[[Metadata[Any]], bool],
    ) -> bytes:
        """Create ``key``; when another signer of this serial got there first, use its file."""
        try:
            storage.put_new(key, data)
            return data
        except ObjectExistsError:
            existing = storage.get(key).data
        metadata = self._verified(existing, role)
        if metadata is None or not acceptable(metadata):
            raise SigningError(
                f"{storage.url}/{key} already exists and is not {role} metadata of this index "
                "root signed by these keys (a forgery, or another key directory signed it)"
            )
        log.info("%s was written by another signer; using it", key)
        return existing

    def _point_timestamp(
        self,
        storage: Storage,
        snapshot_meta: MetaFile,
        expiry: int,
        *,
        force: bool,
        first: FoundTimestamp | None = None,
    ) -> tuple[str, int, str | None]:
        """Compare-and-swap the timestamp onto ``snapshot_meta``, never backwards.

        ``first`` is the timestamp as the caller just read it (the first attempt's ETag).
        """
        for attempt in range(1, MAX_ATTEMPTS + 1):
            current = first if attempt == 1 and first is not None else self._read_timestamp(storage)
            if current.snapshot_version > snapshot_meta.version:
                return "newer", current.version, None
            if current.snapshot_version == snapshot_meta.version and not force:
                return "current", current.version, None
            version = max(current.version + 1, int(time.time()))
            expires = _now() + timedelta(seconds=expiry)
            timestamp = Timestamp(
                version=version,
                expires=expires,
                snapshot_meta=snapshot_meta,
                unrecognized_fields={SETTINGS_FIELD: {"timestamp_expiry": expiry}},
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
