"""Bytecode in the store: compiled once at install, recorded, and checked like the sources.

Python's default is to write ``__pycache__/*.pyc`` beside every module it imports.  Left to the
interpreter, that would write into ``store/<sha256>`` (which ``verify`` must then either flag as
unknown files or blindly accept: and a planted ``.pyc`` beside a verified source is code that
runs unchecked).  So the store entry is complete *with* its bytecode before it is renamed into
place:

- every ``.py`` file of the bundle is compiled into the staging directory as a **checked-hash**
  pyc (PEP 552) for the running interpreter; the import system then finds a valid pyc, checks
  it against the source's hash, and never writes.  Unlike timestamp pycs, checked-hash pycs
  stay valid when the store is copied with new mtimes (a sidecar copying a synced dir to a
  read-only volume), and a changed source is never run from a stale pyc;
- each pyc's sha256 goes into the entry's bytecode manifest (``.bytecode.json``, beside the
  package, not importable), which ``verify`` checks: a pyc that is not in the manifest, or
  whose bytes changed, is reported.

Only plain (non ``-O``) bytecode is compiled for the interpreter running the sync.  Another
interpreter version importing from the dir writes its own ``*.cpython-3XX.pyc``, which
``verify`` reports as bytecode it did not write; run such interpreters with
``PYTHONDONTWRITEBYTECODE=1`` (or sync from that interpreter).  Compiling never executes plugin
code; a module that does not compile gets no pyc (importing it fails anyway).
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import logging
import marshal
import os
import sys
from dataclasses import dataclass
from pathlib import Path

logger = logging.getLogger(__name__)

MANIFEST_NAME = ".bytecode.json"
MANIFEST_FORMAT = 1
# PEP 552 flags: bit 0 = hash-based, bit 1 = check_source.
_CHECKED_HASH_FLAGS = (0b11).to_bytes(4, "little")


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


def pyc_path(source: str) -> str | None:
    """Where the running interpreter looks for the pyc of ``source`` (a relative posix path).

    None when this interpreter does not cache bytecode (``sys.implementation.cache_tag``).
    """
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    directory, _, file_name = source.rpartition("/")
    stem = file_name[: -len(".py")]
    prefix = f"{directory}/" if directory else ""
    return f"{prefix}__pycache__/{stem}.{tag}.pyc"


def compile_entry(staging: Path, final: Path, sources: list[str]) -> BytecodeManifest:
    """Compile ``sources`` (relative ``.py`` paths in ``staging``) to checked-hash pycs.

    ``final`` is where ``staging`` will be renamed to; it names the code objects' files so that
    tracebacks show the store path.  Writes the manifest into ``staging`` and returns it.
    Cost: one read, one compile and one write per source file.
    """
    files: dict[str, str] = {}
    for source in sources:
        target = pyc_path(source)
        if target is None:
            break
        data = (staging / source).read_bytes()
        try:
            code = compile(data, str(final / source), "exec", dont_inherit=True, optimize=0)
        except (SyntaxError, ValueError) as error:
            logger.debug("no bytecode for %s: %s", source, error)
            continue
        pyc = (
            importlib.util.MAGIC_NUMBER
            + _CHECKED_HASH_FLAGS
            + importlib.util.source_hash(data)
            + marshal.dumps(code)
        )
        path = staging / target
        path.parent.mkdir(exist_ok=True)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        with os.fdopen(descriptor, "wb") as stream:
            stream.write(pyc)
        files[target] = hashlib.sha256(pyc).hexdigest()
    manifest = BytecodeManifest(cache_tag=sys.implementation.cache_tag, files=files)
    descriptor = os.open(staging / MANIFEST_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(manifest.to_bytes())
    return manifest
