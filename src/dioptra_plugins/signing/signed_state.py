"""What a key directory finds in a signed index: its timestamp, its last signed state and the
metadata a writer signed before its swap, every link verified against the directory's root.

:class:`SignedStateReader` only reads; :class:`~dioptra_plugins.signing.metadata.IndexSigner`
builds on it to sign, promote and move the timestamp (see that module for the design).
"""

from __future__ import annotations

import contextlib
import logging
import re
from pathlib import Path
from typing import Any

from tuf.api.exceptions import LengthOrHashMismatchError, UnsignedMetadataError
from tuf.api.metadata import Metadata, MetaFile, Root, Snapshot, Targets, Timestamp  # type: ignore[attr-defined]

from dioptra_plugins.errors import DioptraPluginsError, ObjectNotFoundError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.signing import SigningError, names
from dioptra_plugins.signing.keys import read_trusted_root
from dioptra_plugins.signing.outcome import FoundTimestamp, Pending, SignedState
from dioptra_plugins.signing.targets import carried_root

log = logging.getLogger(__name__)

_SNAPSHOT_NAME = re.compile(r"^(\d+)\.snapshot\.json$")


def pins(metadata: Metadata[Any], root_sha256: str, version: int) -> bool:
    """Targets metadata of ``version`` whose ``index.json`` target is the root ``root_sha256``."""
    target = metadata.signed.targets.get(ROOT_KEY)
    return (
        metadata.signed.version == version
        and target is not None
        and target.hashes.get("sha256") == root_sha256
    )


def meta_of(data: bytes, version: int) -> MetaFile:
    """How the role above pins ``data`` as ``version``: its length and sha256."""
    return MetaFile(version, len(data), {"sha256": sha256_hex(data)})


def _root_of(targets: Targets, what: str) -> bytes:
    """The exact index root bytes ``targets`` signs (``what`` names it in a SigningError)."""
    return carried_root(targets.targets.get(ROOT_KEY), what, SigningError)


class SignedStateReader:
    """Reads the signed metadata of one index, verified against the root of ``keydir``."""

    def __init__(self, keydir: Path) -> None:
        self.keydir = Path(keydir)
        self.root = read_trusted_root(self.keydir)

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
        key = names.metadata_key(Root.type, version)
        try:
            stored = storage.get(key).data
        except ObjectNotFoundError:
            raise SigningError(
                f"{storage.url} is not signed by the root in {self.keydir / 'root.json'} "
                f"({key} does not exist); create the signed metadata with "
                f"`dioptra-plugins index init {storage.url} --signed --keys {self.keydir}`"
            ) from None
        if self._verified(stored, Root.type) is None or (
            Metadata.from_bytes(stored).signed != self.root.signed
        ):
            raise SigningError(
                f"{storage.url}/{key} is not the root in "
                f"{self.keydir / 'root.json'}: this index is signed with other keys"
            )
        try:
            storage.get(names.metadata_key("root", version + 1))
        except ObjectNotFoundError:
            return
        raise SigningError(
            f"{storage.url} has root version {version + 1}, newer than "
            f"{self.keydir / 'root.json'} (version {version}): copy the key directory of "
            "the last `keys rotate`"
        )

    def read_timestamp(self, storage: Storage) -> FoundTimestamp:
        try:
            stored = storage.get(names.TIMESTAMP_KEY)
        except ObjectNotFoundError:
            return FoundTimestamp(None, 0, None)
        metadata = self._verified(stored.data, Timestamp.type)
        if metadata is not None:
            return FoundTimestamp(stored.etag, metadata.signed.version, metadata.signed)
        # Not ours (garbage, a forgery, or signed by a rotated-out key): it is replaced, but
        # above its version, so that no worker that believed it sees a rollback.
        version = 0
        with contextlib.suppress(Exception):  # unparseable: nothing to stay above
            version = int(Metadata.from_bytes(stored.data).signed.version)
        return FoundTimestamp(stored.etag, version, None)

    def signed_state(self, storage: Storage) -> SignedState:
        """The last signed state, every link verified; an empty state when there is none.

        Cost: three requests (timestamp, snapshot, targets).  A missing or foreign timestamp
        falls back to the newest snapshot in ``tuf/`` that verifies (one listing more): a
        bucket writer who deletes the timestamp must not make the index unsignable.
        """
        found = self.read_timestamp(storage)
        if found.verified is not None:
            return self._state_from(storage, found, found.verified.snapshot_meta)
        versions = sorted(
            (
                int(match.group(1))
                for info in storage.list(f"{names.TUF_DIR}/")
                if (match := _SNAPSHOT_NAME.match(info.key.removeprefix(f"{names.TUF_DIR}/")))
            ),
            reverse=True,
        )
        for version in versions:
            try:
                data = storage.get(names.metadata_key("snapshot", version)).data
            except ObjectNotFoundError:
                continue
            if self._verified(data, Snapshot.type) is None:
                continue
            log.warning(
                "%s: %s is missing or not signed by these keys; the newest signed snapshot "
                "is version %d",
                storage.url,
                names.TIMESTAMP_KEY,
                version,
            )
            return self._state_from(storage, found, meta_of(data, version))
        return SignedState(found)

    def _state_from(self, storage: Storage, found: FoundTimestamp, meta: MetaFile) -> SignedState:
        version = meta.version
        snapshot_key = names.metadata_key(Snapshot.type, version)
        snapshot = self._linked(storage, snapshot_key, Snapshot.type, meta)
        targets_meta = snapshot.signed.meta.get("targets.json")
        if targets_meta is None or targets_meta.version != version:
            raise SigningError(
                f"{storage.url}/{snapshot_key} does not pin targets version {version}: "
                "the signed metadata is damaged"
            )
        targets_key = names.metadata_key(Targets.type, version)
        targets = self._linked(storage, targets_key, Targets.type, targets_meta)
        root_bytes = _root_of(targets.signed, f"{storage.url}/{targets_key}")
        root = RootDocument.from_bytes(root_bytes, what=f"{storage.url} (signed root)")
        expires = min(snapshot.signed.expires, targets.signed.expires)
        return SignedState(found, meta, targets.signed, root_bytes, expires, root)

    def _linked(self, storage: Storage, key: str, role: str, meta: MetaFile) -> Metadata[Any]:
        """``key``, which the role above pins with ``meta``, verified."""
        try:
            data = storage.get(key).data
        except ObjectNotFoundError:
            raise SigningError(
                f"{storage.url}/{key} does not exist, yet the signed metadata names it: "
                "the signed metadata is damaged"
            ) from None
        try:
            meta.verify_length_and_hashes(data)
        except LengthOrHashMismatchError as error:
            raise SigningError(
                f"{storage.url}/{key} is not the file the signed metadata pins ({error})"
            ) from None
        metadata = self._verified(data, role)
        if metadata is None:
            raise SigningError(f"{storage.url}/{key} is not {role} metadata signed by these keys")
        return metadata

    def find_pending(self, storage: Storage, root_bytes: bytes) -> Pending | None:
        """The pending metadata that signs exactly ``root_bytes``, verified; None otherwise.

        Verified against this directory's root: targets signed by the targets keys, pinning
        these exact bytes as version ``serial + 1``, unexpired; a snapshot signed by the
        snapshot keys pinning that targets file.  Cost: two requests.
        """
        root_sha256 = sha256_hex(root_bytes)
        try:
            targets_bytes = storage.get(names.pending_key("targets", root_sha256)).data
            snapshot_bytes = storage.get(names.pending_key("snapshot", root_sha256)).data
        except ObjectNotFoundError:
            return None
        try:
            root = RootDocument.from_bytes(root_bytes)
        except DioptraPluginsError:
            return None
        version = names.metadata_version(root.serial)
        targets = self._verified(targets_bytes, Targets.type)
        snapshot = self._verified(snapshot_bytes, Snapshot.type)
        problem = None
        if targets is None or snapshot is None:
            problem = "not signed by the targets and snapshot keys of this index"
        elif not pins(targets, root_sha256, version) or (
            snapshot.signed.version != version
            or snapshot.signed.meta.get("targets.json") != meta_of(targets_bytes, version)
        ):
            problem = f"not version {version} of this root"
        elif targets.signed.is_expired() or snapshot.signed.is_expired():
            problem = "expired"
        else:
            try:
                if _root_of(targets.signed, "pending targets") != root_bytes:
                    problem = "carrying other root bytes"
            except SigningError as error:
                problem = str(error)
        if problem is not None or targets is None:
            log.warning(
                "%s: ignoring %s: %s",
                storage.url,
                names.pending_key("targets", root_sha256),
                problem,
            )
            return None
        return Pending(version, root_sha256, targets.signed, targets_bytes, snapshot_bytes)

    def was_signed(self, storage: Storage, root: RootDocument) -> bool:
        """Whether ``root`` was signed once, at its own serial (promoted, or pending).

        Cost: one request, three when it was not promoted.
        """
        root_bytes = root.to_bytes()
        version = names.metadata_version(root.serial)
        try:
            data = storage.get(names.metadata_key("targets", version)).data
        except ObjectNotFoundError:
            pass
        else:
            metadata = self._verified(data, Targets.type)
            if metadata is not None and pins(metadata, sha256_hex(root_bytes), version):
                return True
        return self.find_pending(storage, root_bytes) is not None
