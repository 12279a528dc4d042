"""Where the TUF metadata lives inside an index, and how an index serial maps to versions."""

from __future__ import annotations

TUF_DIR = "tuf"
TIMESTAMP_KEY = f"{TUF_DIR}/timestamp.json"
INDEX_TARGET = "index.json"
"""The target whose ``custom.index_root`` carries the exact bytes of the signed index root."""
SETTINGS_FIELD = "x-dioptra-plugins"
"""Unrecognized (but signed) field of the timestamp holding the index's signing settings."""


def root_key(version: int) -> str:
    return f"{TUF_DIR}/{version}.root.json"


def targets_key(version: int) -> str:
    return f"{TUF_DIR}/{version}.targets.json"


def snapshot_key(version: int) -> str:
    return f"{TUF_DIR}/{version}.snapshot.json"


def metadata_version(serial: int) -> int:
    """The targets and snapshot version that signs index serial ``serial`` (TUF starts at 1)."""
    return serial + 1


PENDING_DIR = f"{TUF_DIR}/pending"
"""Targets and snapshot a writer signed before its root swap, named by the new root's sha256."""


def pending_targets_key(root_sha256: str) -> str:
    return f"{PENDING_DIR}/{root_sha256}.targets.json"


def pending_snapshot_key(root_sha256: str) -> str:
    return f"{PENDING_DIR}/{root_sha256}.snapshot.json"
