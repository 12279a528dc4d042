"""The key directory: one Ed25519 private key per TUF role, and the trusted root metadata.

Layout of ``KEYDIR``::

    root.pem targets.pem snapshot.pem timestamp.pem   PKCS#8 PEM private keys, mode 0600
    root.json                                          the newest root metadata (public: workers)
    root-history/<n>.root.json                         every root version (uploaded by init)
    retired/<role>-<keyid>.pem                         keys replaced by ``keys rotate``

A directory may hold only some keys: the machine that re-signs the timestamp needs
``timestamp.pem`` and ``root.json``, a publisher ``targets.pem``, ``snapshot.pem`` and
``timestamp.pem``; ``root.pem`` is needed only by ``index init`` and ``keys rotate``.
Public keys are derived from the private ones (the key id is securesystemslib's default).
"""

from __future__ import annotations

import contextlib
import logging
import os
import stat
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from cryptography.hazmat.primitives.serialization import load_pem_private_key
from securesystemslib.signer import CryptoSigner, SSlibKey  # type: ignore[attr-defined]
from tuf.api.metadata import Metadata, Root  # type: ignore[attr-defined]

from dioptra_plugins.errors import UsageError
from dioptra_plugins.fsutil import write_atomic
from dioptra_plugins.signing import SigningError

logger = logging.getLogger(__name__)

ROLES = ("root", "targets", "snapshot", "timestamp")
TRUSTED_ROOT = "root.json"
ROOT_HISTORY = "root-history"
RETIRED = "retired"


def key_path(keydir: Path, role: str) -> Path:
    return keydir / f"{role}.pem"


def check_role(role: str) -> str:
    if role not in ROLES:
        raise UsageError(f"unknown role {role!r}: expected one of {', '.join(ROLES)}")
    return role


def new_signer() -> CryptoSigner:
    """A fresh Ed25519 key pair (``cryptography``), as a securesystemslib signer."""
    return CryptoSigner.generate_ed25519()


def _signer_for(private_key: Ed25519PrivateKey) -> CryptoSigner:
    return CryptoSigner(private_key, SSlibKey.from_crypto(private_key.public_key()))


def write_private_key(path: Path, signer: CryptoSigner) -> None:
    """Create ``path`` (never overwrite) with mode 0600 and the signer's PKCS#8 PEM key."""
    try:
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o600)
    except FileExistsError:
        raise UsageError(f"{path} already exists: refusing to overwrite a key") from None
    except OSError as error:
        raise UsageError(f"cannot create {path}: {error.strerror or error}") from error
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(signer.private_bytes)
        stream.flush()
        os.fsync(stream.fileno())


def generate_keys(keydir: Path) -> dict[str, str]:
    """Create ``keydir`` (mode 0700) with a new key for every role; role -> key id.

    Refuses a directory that already holds any of the keys (nothing is written then).
    """
    existing = [key_path(keydir, role) for role in ROLES if key_path(keydir, role).exists()]
    if existing:
        raise UsageError(
            f"{keydir} already holds keys ({', '.join(p.name for p in existing)}): refusing to "
            "overwrite them; use `dioptra-plugins keys rotate ROLE` to replace one"
        )
    try:
        keydir.mkdir(mode=0o700, parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {keydir}: {error.strerror or error}") from error
    keyids = {}
    for role in ROLES:
        signer = new_signer()
        write_private_key(key_path(keydir, role), signer)
        keyids[role] = signer.public_key.keyid
    return keyids


def load_signer(keydir: Path, role: str) -> CryptoSigner | None:
    """The signer of ``role`` from ``keydir``, or None when the directory has no such key."""
    path = key_path(keydir, role)
    try:
        data = path.read_bytes()
        mode = path.stat().st_mode
    except FileNotFoundError:
        return None
    except OSError as error:
        raise SigningError(f"cannot read {path}: {error.strerror or error}") from error
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        logger.warning("%s is readable by other users (mode %o); it should be 0600", path, mode)
    try:
        private_key = load_pem_private_key(data, password=None)
    except (ValueError, TypeError) as error:
        raise SigningError(f"{path} is not an unencrypted PEM private key: {error}") from None
    if not isinstance(private_key, Ed25519PrivateKey):
        raise SigningError(f"{path} is not an Ed25519 key")
    return _signer_for(private_key)


def read_trusted_root(keydir: Path) -> Metadata[Root]:
    """``KEYDIR/root.json``: the root metadata this directory's keys belong to."""
    path = keydir / TRUSTED_ROOT
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        raise SigningError(
            f"{path} does not exist: create the signed index with `dioptra-plugins index init "
            f"URL --signed --keys {keydir}` (or copy root.json from the key directory that did)"
        ) from None
    except OSError as error:
        raise SigningError(f"cannot read {path}: {error.strerror or error}") from error
    return parse_root(data, str(path))


def parse_root(data: bytes, what: str) -> Metadata[Root]:
    """Root metadata from bytes; UsageError when it is not TUF root metadata."""
    try:
        metadata = Metadata[Root].from_bytes(data)
    except Exception as error:  # the deserializer raises several types; all mean "not a root"
        raise UsageError(f"{what} is not TUF metadata: {error}") from None
    if metadata.signed.type != Root.type:
        raise UsageError(f"{what} is TUF {metadata.signed.type} metadata, not root metadata")
    return metadata


def root_history(keydir: Path) -> dict[int, bytes]:
    """Every root version the directory knows, by version (at least the current one)."""
    versions: dict[int, bytes] = {}
    with contextlib.suppress(FileNotFoundError):
        for path in (keydir / ROOT_HISTORY).iterdir():
            number = path.name.split(".", 1)[0]
            if path.name.endswith(".root.json") and number.isdigit():
                versions[int(number)] = path.read_bytes()
    current = (keydir / TRUSTED_ROOT).read_bytes()
    versions[parse_root(current, TRUSTED_ROOT).signed.version] = current
    return versions


def write_trusted_root(keydir: Path, data: bytes) -> None:
    """Record a new root version: ``root-history/<n>.root.json`` and ``root.json``."""
    version = parse_root(data, "new root").signed.version
    history = keydir / ROOT_HISTORY
    history.mkdir(mode=0o700, exist_ok=True)
    write_atomic(history / f"{version}.root.json", data)
    write_atomic(keydir / TRUSTED_ROOT, data)


def retire_key(keydir: Path, role: str, keyid: str) -> Path:
    """Move ``role``'s key aside to ``retired/`` (to be destroyed by its owner)."""
    retired = keydir / RETIRED
    retired.mkdir(mode=0o700, exist_ok=True)
    target = retired / f"{role}-{keyid[:16]}.pem"
    os.replace(key_path(keydir, role), target)
    return target
