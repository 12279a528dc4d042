"""sha256, the one hash of this project: of streams and files, and as RECORD writes it.

Bundles, documents and store files are all named or checked by sha256 hex; RECORD (PEP 376 /
427) spells a digest as ``sha256=<urlsafe base64 without padding>``.  Everything reads in
:data:`CHUNK_SIZE` pieces so that a 500 MB bundle never sits in memory.
"""

from __future__ import annotations

import base64
import hashlib
from pathlib import Path
from typing import BinaryIO

CHUNK_SIZE = 1024 * 1024


def sha256_hex(data: bytes) -> str:
    """Hex digest of bytes in memory (documents, metadata, small files)."""
    return hashlib.sha256(data).hexdigest()


def sha256_stream(stream: BinaryIO) -> tuple[str, int]:
    """(hex digest, size) of what is left in ``stream``, read to its end."""
    digest = hashlib.sha256()
    size = 0
    while chunk := stream.read(CHUNK_SIZE):
        digest.update(chunk)
        size += len(chunk)
    return digest.hexdigest(), size


def sha256_file(path: Path) -> tuple[str, int]:
    """(hex digest, size) of a file."""
    with path.open("rb") as stream:
        return sha256_stream(stream)


def file_sha256(path: Path) -> str:
    """Hex digest of a file."""
    return sha256_file(path)[0]


def record_digest(hex_digest: str) -> str:
    """A sha256 hex digest as RECORD writes it (urlsafe base64, no padding)."""
    return base64.urlsafe_b64encode(bytes.fromhex(hex_digest)).rstrip(b"=").decode("ascii")


def hex_of_record_digest(value: str) -> str:
    """A RECORD digest (urlsafe base64, padding optional) as hex; ValueError if malformed."""
    return base64.urlsafe_b64decode(value + "=" * (-len(value) % 4)).hex()
