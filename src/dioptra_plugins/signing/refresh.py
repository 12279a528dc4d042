"""The signing operations of the timestamp holder and of the first signing (DESIGN §10).

:func:`refresh_index` needs only ``timestamp.pem`` and ``root.json``: it renews the timestamp of
the signed state, completes a publisher that died between its swap and its promotion (by
promoting the metadata that publisher signed, after verifying it), and reports any other root
without signing it, whatever keys the directory holds.  :func:`initialize_signed` (``index init
--signed``) signs an index that is not signed yet as it is, and only refreshes one that is.
"""

from __future__ import annotations

import logging
import os
from datetime import UTC, datetime
from pathlib import Path

from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.storage import Storage, StoredObject
from dioptra_plugins.signing import SigningError, UnsignedRootError
from dioptra_plugins.signing.differences import root_differences
from dioptra_plugins.signing.metadata import (
    DEFAULT_TIMESTAMP_EXPIRY,
    RENEW_MARGIN,
    IndexSigner,
    iso,
)
from dioptra_plugins.signing.outcome import SignedState, SignResult
from dioptra_plugins.signing.policy import WRITER_ROLES, read_current_root

log = logging.getLogger(__name__)


def refresh_index(
    storage: Storage, keys: str | os.PathLike[str], *, timestamp_expiry: int | None = None
) -> SignResult:
    """Renew the freshness of what was signed; needs only ``timestamp.pem`` and ``root.json``.

    - index.json is the signed root: a new timestamp.
    - index.json is a root a publisher signed before its swap and did not promote (it died):
      that metadata, verified against the trusted root, is promoted, then the timestamp.
    - anything else: UnsignedRootError naming the differences, after renewing the timestamp of
      the last signed state (workers stay on it and do not freeze).

    Refresh never signs targets or snapshot, whatever keys the directory holds.
    """
    signer = IndexSigner(Path(keys))
    signer.require("timestamp", action="index refresh")
    signer.check_index(storage)
    state = signer.signed_state(storage)
    if state.root is None or state.snapshot_meta is None:
        raise SigningError(
            f"{storage.url} holds no signed metadata that the keys in {signer.keydir} verify; "
            f"sign it first with `dioptra-plugins index init {storage.url} --signed`"
        )
    _warn_expiry(storage, state)
    stored, current = read_current_root(storage)
    if current is not None and current == state.root:
        outcome = signer.point_timestamp(
            storage, state.snapshot_meta, timestamp_expiry, force=True, first=state.timestamp
        )
        metadata_expires = iso(state.metadata_expires) if state.metadata_expires else None
        return SignResult(
            storage.url, current.serial, False, *outcome, metadata_expires=metadata_expires
        )
    if stored is not None and current is not None and current.serial > state.root.serial:
        completed = _complete_pending(signer, storage, state, stored, current, timestamp_expiry)
        if completed is not None:
            return completed
    differences = root_differences(storage, state.root, current)
    signer.point_timestamp(
        storage, state.snapshot_meta, timestamp_expiry, force=True, first=state.timestamp
    )
    raise UnsignedRootError(
        storage.url,
        signed_serial=state.root.serial,
        found_serial=current.serial if current is not None else None,
        differences=differences,
        outcome=(
            f"refresh signed none of it, only a new timestamp for signed serial "
            f"{state.root.serial}, which workers that verify keep using (a publisher restores "
            "the signed root with `dioptra-plugins index renew --restore`)"
        ),
        renewed=True,
    )


def _complete_pending(
    signer: IndexSigner,
    storage: Storage,
    state: SignedState,
    stored: StoredObject,
    current: RootDocument,
    timestamp_expiry: int | None,
) -> SignResult | None:
    """Promote the metadata a publisher signed for ``current`` before its swap and died
    (verified against the trusted root), then the timestamp; None when there is none."""
    pending = signer.find_pending(storage, stored.data)
    if pending is None or pending.version <= state.version:
        return None
    meta = signer.promote(storage, pending)
    outcome = signer.point_timestamp(storage, meta, timestamp_expiry, force=True)
    log.info(
        "%s: completed serial %d, signed by its publisher before its swap",
        storage.url,
        current.serial,
    )
    return SignResult(
        storage.url,
        current.serial,
        True,
        *outcome,
        completed=True,
        metadata_expires=iso(pending.targets.expires),
    )


def _warn_expiry(storage: Storage, state: SignedState) -> None:
    expires = state.metadata_expires
    if expires is not None and expires - datetime.now(UTC) < RENEW_MARGIN:
        log.warning(
            "%s: its signed targets and snapshot expire at %s; a publisher renews them with "
            "`dioptra-plugins index renew` (or any publish, yank or unyank)",
            storage.url,
            iso(expires),
        )


def initialize_signed(
    storage: Storage, keys: str | os.PathLike[str], *, timestamp_expiry: int | None = None
) -> SignResult:
    """``index init --signed``: upload the root versions, then sign the index.

    An index that is not signed yet is signed as it is: the one place where the owner vouches
    for a root nobody signed.  An index that already holds signed metadata is only refreshed
    (:func:`refresh_index`): running init again never signs a root the targets key did not.
    """
    signer = IndexSigner(Path(keys))
    signer.require(*WRITER_ROLES, action="index init --signed")
    signer.upload_root_history(storage)
    state = signer.signed_state(storage)
    if state.root is not None:
        return refresh_index(storage, keys, timestamp_expiry=timestamp_expiry)
    stored = storage.get(ROOT_KEY)
    meta = signer.sign_as_is(storage, stored.data)
    outcome = signer.point_timestamp(
        storage,
        meta,
        timestamp_expiry or DEFAULT_TIMESTAMP_EXPIRY,
        force=True,
        first=state.timestamp,
    )
    serial = RootDocument.from_bytes(stored.data).serial
    return SignResult(storage.url, serial, True, *outcome)
