"""Writing a verified bundle into a directory, and nowhere else.

Only a :class:`VerifiedBundle` can be extracted, so every name was already checked.  Each file is
still created with ``O_EXCL | O_NOFOLLOW`` inside a directory this function made itself, and its
bytes are hashed again as they are written: if the wheel changed on disk after verification, the
extraction fails with IntegrityError (whether the new bytes hash differently or no longer
decompress at all) and the half-written directory is removed.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import zipfile
from pathlib import Path
from typing import IO

from dioptra_plugins.bundle.archive import DAMAGED_ZIP_ERRORS, damage
from dioptra_plugins.bundle.verify import VerifiedBundle
from dioptra_plugins.errors import IntegrityError
from dioptra_plugins.hashing import CHUNK_SIZE

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def extract_bundle(bundle: VerifiedBundle, dest: Path) -> None:
    """Extract every recorded file of ``bundle`` (plus its RECORD) into the new directory ``dest``.

    ``dest`` must not exist.  On any failure ``dest`` is removed, so the caller never sees a
    partial tree.  Cost: one decompression and one hash of each entry.
    """
    dest.mkdir()
    root = os.fspath(dest.resolve())
    made: set[str] = {root}  # directories this extraction created (each made once)
    try:
        with _open_archive(bundle) as archive:
            for recorded in bundle.files:
                _extract_one(archive, recorded.path, root, made, recorded.sha256, recorded.size)
            _extract_one(archive, f"{bundle.dist_info}/RECORD", root, made, None, None)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _changed(name: str, error: BaseException) -> IntegrityError:
    return IntegrityError(
        f"{name} cannot be read back after verification (changed on disk?): {damage(error)}"
    )


def _open_archive(bundle: VerifiedBundle) -> zipfile.ZipFile:
    try:
        return zipfile.ZipFile(bundle.path)
    except DAMAGED_ZIP_ERRORS as error:
        raise _changed(str(bundle.path), error) from error


def _extract_one(
    archive: zipfile.ZipFile,
    name: str,
    root: str,
    made: set[str],
    sha256: str | None,
    size: int | None,
) -> None:
    parts = name.split("/")
    # Belt and braces: names were verified, but never write outside the target whatever happens.
    # A lexical check is enough: every directory on the way is one this function made (a fresh
    # tree, no links in it), and the file itself is opened with O_NOFOLLOW.
    if any(part in ("", ".", "..") or "\x00" in part for part in parts):
        raise IntegrityError(f"{name!r} would be written outside {root}")
    target = os.path.join(root, *parts)
    _make_parents(root, parts[:-1], made)
    try:
        stream = archive.open(name)
    except KeyError as error:
        raise IntegrityError(f"{name!r} is no longer in the wheel after verification") from error
    except DAMAGED_ZIP_ERRORS as error:
        raise _changed(repr(name), error) from error
    with stream:
        # Created read-only: the store is read-only, and no second pass has to make it so.
        descriptor = os.open(target, _FLAGS, 0o444)
        with os.fdopen(descriptor, "wb") as out:
            digest, written = _copy_hashing(stream, out, name)
    if sha256 is not None and (digest != sha256 or written != size):
        raise IntegrityError(
            f"{name!r} changed after verification: expected sha256 {sha256} ({size} bytes), "
            f"found {digest} ({written} bytes)",
            subject=name,
            expected=f"sha256 {sha256} ({size} bytes)",
            found=f"sha256 {digest} ({written} bytes)",
        )


def _make_parents(root: str, parts: list[str], made: set[str]) -> None:
    path = root
    for part in parts:
        path = os.path.join(path, part)
        if path not in made:
            os.mkdir(path)  # a fresh tree: it cannot exist, nor be a link someone planted
            made.add(path)


def _copy_hashing(stream: IO[bytes], out: IO[bytes], name: str) -> tuple[str, int]:
    """Copy ``stream`` to ``out``; returns the sha256 hex and size of what was copied.

    Only reading is guarded: a damaged entry is an IntegrityError, while a failing write (a
    full disk) stays the OSError it is.
    """
    digest = hashlib.sha256()
    written = 0
    while True:
        try:
            chunk = stream.read(CHUNK_SIZE)
        except DAMAGED_ZIP_ERRORS as error:
            raise _changed(repr(name), error) from error
        if not chunk:
            return digest.hexdigest(), written
        digest.update(chunk)
        out.write(chunk)
        written += len(chunk)
