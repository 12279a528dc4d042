"""The bytecode manifest of a store entry: the pycs sync compiled into it, with their sha256.

Sync writes it (:mod:`dioptra_plugins.syncing.bytecode`); ``verify`` reads it to tell the pycs
sync wrote from ones planted or written later.  It sits beside the package, not importable.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

MANIFEST_NAME = ".bytecode.json"
MANIFEST_FORMAT = 1


@dataclass(frozen=True)
class BytecodeManifest:
    """The pycs sync wrote into one store entry: relative path -> sha256 hex."""

    cache_tag: str | None
    files: dict[str, str]

    def to_bytes(self) -> bytes:
        document = {"format": MANIFEST_FORMAT, "cache_tag": self.cache_tag, "files": self.files}
        return json.dumps(document, indent=1, sort_keys=True).encode() + b"\n"

    @classmethod
    def from_bytes(cls, data: bytes) -> BytecodeManifest:
        """Parse a manifest; raises ValueError for anything that is not one."""
        document = json.loads(data)
        if not isinstance(document, dict) or document.get("format") != MANIFEST_FORMAT:
            raise ValueError("not a bytecode manifest of format 1")
        files = document.get("files")
        tag = document.get("cache_tag")
        if not isinstance(files, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in files.items()
        ):
            raise ValueError("'files' is not a mapping of paths to sha256")
        if tag is not None and not isinstance(tag, str):
            raise ValueError("'cache_tag' is not a string")
        return cls(cache_tag=tag, files=dict(files))
