"""Writing a bundle into a new directory as it is verified, and nowhere else.

Extraction is verification with a sink (:class:`DirectorySink`): each entry is inflated once,
hashed against RECORD and written in the same pass, so the bytes that were checked are the bytes
on disk (no second read of the wheel that could see other bytes).  The sink writes only names
that verification already found safe (checked from the zip directory before anything is
inflated); even so, each file is created with ``O_EXCL | O_NOFOLLOW`` inside directories this
extraction made itself.  Until :func:`unpack_wheel` returns, the directory is untrusted: any
problem removes it whole.
"""

from __future__ import annotations

import io
import os
import shutil
from pathlib import Path

from dioptra_plugins.bundle.verify import Limits, VerifiedBundle, verify_wheel
from dioptra_plugins.errors import IntegrityError

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


class _NewFile:
    """A file being written with plain ``os.write`` calls: no buffer, no tty probe per file."""

    def __init__(self, descriptor: int) -> None:
        self.descriptor = descriptor

    def write(self, data: bytes) -> int:
        view = memoryview(data)
        while view:
            view = view[os.write(self.descriptor, view) :]
        return len(data)

    def close(self) -> None:
        os.close(self.descriptor)


class DirectorySink:
    """Creates each verified entry as a read-only file under ``root`` (a fresh directory)."""

    def __init__(self, root: Path) -> None:
        self.root = os.fspath(root)
        self.made: set[str] = {self.root}  # directories this extraction created (each once)

    def open(self, name: str) -> _NewFile:
        parts = name.split("/")
        # Belt and braces: names were verified, but never write outside the target whatever
        # happens.  A lexical check is enough: every directory on the way is one this sink made
        # (a fresh tree, no links in it), and the file itself is opened with O_NOFOLLOW.
        if any(part in ("", ".", "..") or "\x00" in part for part in parts):
            raise IntegrityError(f"{name!r} would be written outside {self.root}")
        path = self.root
        for part in parts[:-1]:
            path = f"{path}/{part}"
            if path not in self.made:
                os.mkdir(path)  # a fresh tree: it cannot exist, nor be a link someone planted
                self.made.add(path)
        # Created read-only: the store is read-only, and no second pass has to make it so.
        descriptor = os.open(f"{path}/{parts[-1]}", _FLAGS, 0o444)
        return _NewFile(descriptor)


def unpack_wheel(
    path: Path,
    dest: Path,
    *,
    content: bytes | None = None,
    source: io.RawIOBase | None = None,
    sha256: str | None = None,
    limits: Limits | None = None,
) -> VerifiedBundle:
    """Verify the wheel ``path`` (or its bytes, ``content``, or a file of them, ``source``) and
    extract it into ``dest``.

    ``dest`` must not exist.  Raises BundleError (every problem listed) for a bad wheel and the
    OSError for a failing write; in both cases ``dest`` is removed, so the caller never sees a
    partial tree.  Cost: one decompression, one hash and one write of each entry; the wheel's
    sha256 is computed only if ``sha256`` is not given.
    """
    dest.mkdir()
    try:
        return verify_wheel(
            path, limits, content=content, source=source, sha256=sha256, sink=DirectorySink(dest)
        )
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise
