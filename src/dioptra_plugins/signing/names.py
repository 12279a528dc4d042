"""Where the TUF metadata lives inside an index, and how an index serial maps to versions.

The target that carries the exact bytes of the signed index root (in its
``custom.index_root``) is named like the root itself: :data:`dioptra_plugins.index.keys.ROOT_KEY`.
"""

from __future__ import annotations

TUF_DIR = "tuf"
TIMESTAMP_KEY = f"{TUF_DIR}/timestamp.json"
SETTINGS_FIELD = "x-dioptra-plugins"
"""Unrecognized (but signed) field of the timestamp holding the index's signing settings."""
PENDING_DIR = f"{TUF_DIR}/pending"
"""Targets and snapshot a writer signed before its root swap, named by the new root's sha256."""


def metadata_key(role: str, version: int) -> str:
    """``tuf/<version>.<role>.json``: the consistent-snapshot name of one role's metadata
    (``root``, ``targets`` or ``snapshot``; the timestamp has one name, :data:`TIMESTAMP_KEY`)."""
    return f"{TUF_DIR}/{version}.{role}.json"


def pending_key(role: str, root_sha256: str) -> str:
    """``tuf/pending/<sha256>.<role>.json``: ``targets`` or ``snapshot`` signed for the root
    whose bytes have that sha256, before its swap."""
    return f"{PENDING_DIR}/{root_sha256}.{role}.json"


def metadata_version(serial: int) -> int:
    """The targets and snapshot version that signs index serial ``serial`` (TUF starts at 1)."""
    return serial + 1
