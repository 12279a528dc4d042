"""Root metadata: the first version (``index init --signed``) and key rotation (``keys rotate``).

A rotation writes root version ``n + 1`` with the role's new key, signed by the old root key
(and, for the root role, by the new one too), so a worker holding any older root walks the
chain ``n + 1.root.json, n + 2...`` and ends up trusting the new key.  Before the new root is
uploaded, the metadata of the rotated role is re-signed with the old and the new key at once:
workers still on root ``n`` and workers already on ``n + 1`` both accept it, so there is no
moment at which a worker must refuse the index.  Re-signing targets or snapshot is an unchanged
root swap under the signing policy (``signing.policy``): on a root the targets key did not sign
the rotation is refused before anything is written; the timestamp is renewed for the signed
state as it is.
"""

from __future__ import annotations

import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from securesystemslib.signer import CryptoSigner  # type: ignore[attr-defined]
from tuf.api.metadata import Metadata, Root  # type: ignore[attr-defined]
from tuf.api.serialization.json import JSONSerializer

from dioptra_plugins.errors import ObjectExistsError, UsageError
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.signing import SigningError
from dioptra_plugins.signing.keys import (
    ROLES,
    TRUSTED_ROOT,
    check_role,
    key_path,
    load_signer,
    new_signer,
    read_trusted_root,
    retire_key,
    write_private_key,
    write_trusted_root,
)
from dioptra_plugins.signing.metadata import ROOT_EXPIRY, IndexSigner
from dioptra_plugins.signing.names import metadata_key
from dioptra_plugins.signing.outcome import SignResult
from dioptra_plugins.signing.policy import WRITER_ROLES, SignedWriter

log = logging.getLogger(__name__)

_PRETTY = JSONSerializer(compact=False)


def ensure_root(keydir: Path) -> tuple[bytes, bool]:
    """``KEYDIR/root.json``, created (version 1, every role's key) when missing; (bytes, new)."""
    path = keydir / TRUSTED_ROOT
    if path.is_file():
        read_trusted_root(keydir)  # parses, or says why not
        return path.read_bytes(), False
    signers = {role: load_signer(keydir, role) for role in ROLES}
    missing = [role for role, signer in signers.items() if signer is None]
    if missing:
        raise SigningError(
            f"{keydir} lacks the {', '.join(missing)} key(s) needed to create the root; "
            f"run `dioptra-plugins keys generate {keydir}`"
        )
    root = Root(expires=datetime.now(UTC) + ROOT_EXPIRY, consistent_snapshot=True)
    for role, signer in signers.items():
        assert signer is not None
        root.add_key(signer.public_key, role)
    metadata = Metadata(root)
    root_signer = signers["root"]
    assert root_signer is not None
    metadata.sign(root_signer)
    data = metadata.to_bytes(_PRETTY)
    write_trusted_root(keydir, data)
    return data, True


@dataclass(frozen=True)
class RotateResult:
    role: str
    old_keyid: str | None
    new_keyid: str
    root_version: int
    retired: str | None
    """Where the old private key went (to be destroyed), if the directory had it."""
    signed: SignResult | None


def rotate_key(keydir: Path, role: str, storage: Storage) -> RotateResult:
    """Replace ``role``'s key with a new one in a new root version, on the index and in KEYDIR."""
    check_role(role)
    old_root = read_trusted_root(keydir)
    root_signer = load_signer(keydir, "root")
    if root_signer is None:
        raise SigningError(f"{keydir} has no root key (root.pem): rotating a key needs it")
    checker = IndexSigner(keydir)
    checker.check_index(storage)
    old_signer = load_signer(keydir, role)
    next_path = keydir / f"{role}.next.pem"
    if next_path.exists():
        next_root = metadata_key("root", old_root.signed.version + 1)
        raise UsageError(
            f"{next_path} exists: an earlier rotation of {role} was interrupted; if "
            f"{next_root} is not in the index, delete it and retry"
        )
    signer = new_signer()
    write_private_key(next_path, signer)
    try:
        new_root = _next_root(old_root, role, signer, root_signer)
        signed = new_root.signed
        data = new_root.to_bytes(_PRETTY)
        result = None
        if role != "root":
            # Signed by the old and the new key: valid under root n and root n + 1 alike.
            result = _sign_with_both(storage, IndexSigner(keydir, extra={role: [signer]}), role)
        try:
            storage.put_new(metadata_key("root", signed.version), data)
        except ObjectExistsError:
            raise SigningError(
                f"{storage.url}/{metadata_key('root', signed.version)} appeared meanwhile: someone "
                "else rotated a key of this index; nothing was changed in the key directory"
            ) from None
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            next_path.unlink()
        raise
    write_trusted_root(keydir, data)
    retired = None
    if old_signer is not None:
        retired = str(retire_key(keydir, role, old_signer.public_key.keyid))
    next_path.replace(key_path(keydir, role))
    log.info("rotated the %s key of %s: root version %d", role, storage.url, signed.version)
    return RotateResult(
        role,
        old_signer.public_key.keyid if old_signer else None,
        signer.public_key.keyid,
        signed.version,
        retired,
        result,
    )


def _next_root(
    old_root: Metadata[Root], role: str, signer: CryptoSigner, root_signer: CryptoSigner
) -> Metadata[Root]:
    """Root version ``n + 1``: ``role``'s keys replaced by ``signer``'s, signed by the old root
    key (and, for the root role, by the new one too)."""
    new_root = Metadata[Root].from_bytes(old_root.to_bytes())
    signed = new_root.signed
    for keyid in list(signed.roles[role].keyids):
        signed.revoke_key(keyid, role)
    signed.add_key(signer.public_key, role)
    signed.version += 1
    signed.expires = datetime.now(UTC) + ROOT_EXPIRY
    new_root.sign(root_signer)  # the threshold of the old root
    if role == "root":
        new_root.sign(signer, append=True)  # and of the new one
    return new_root


def _sign_with_both(storage: Storage, dual: IndexSigner, role: str) -> SignResult:
    """The metadata of ``role`` anew, with its old and new key, under the signing policy.

    Targets or snapshot: an unchanged root under the next serial, on a checked base (a root
    the targets key did not sign is refused, as for any writer).  Timestamp: a new timestamp
    for the signed state as it is.
    """
    if role in ("targets", "snapshot"):
        dual.require(*WRITER_ROLES, action=f"rotating the {role} key")
        return SignedWriter(storage, dual).swap_unchanged()
    state = dual.signed_state(storage)
    if state.snapshot_meta is None or state.root is None:
        raise SigningError(f"{storage.url} holds no signed metadata these keys verify")
    outcome = dual.point_timestamp(
        storage, state.snapshot_meta, None, force=True, first=state.timestamp
    )
    return SignResult(storage.url, state.root.serial, False, *outcome)
