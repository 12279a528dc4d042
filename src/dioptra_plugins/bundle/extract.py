"""Writing a verified bundle into a directory, and nowhere else.

Only a :class:`VerifiedBundle` can be extracted, so every name was already checked.  Each file is
still created with ``O_EXCL | O_NOFOLLOW`` inside a directory this function made itself, and its
bytes are hashed again as they are written: if the wheel changed on disk after verification, the
extraction fails and the half-written directory is removed.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path
from typing import BinaryIO, cast

from installer.utils import copyfileobj_with_hashing

from dioptra_plugins.bundle.verify import VerifiedBundle, urlsafe_b64_to_hex
from dioptra_plugins.errors import IntegrityError

_FLAGS = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_NOFOLLOW", 0)


def extract_bundle(bundle: VerifiedBundle, dest: Path) -> None:
    """Extract every recorded file of ``bundle`` (plus its RECORD) into the new directory ``dest``.

    ``dest`` must not exist.  On any failure ``dest`` is removed, so the caller never sees a
    partial tree.  Cost: one decompression and one hash of each entry.
    """
    dest.mkdir()
    root = dest.resolve()
    try:
        with zipfile.ZipFile(bundle.path) as archive:
            for recorded in bundle.files:
                _extract_one(archive, recorded.path, root, recorded.sha256, recorded.size)
            _extract_one(archive, f"{bundle.dist_info}/RECORD", root, None, None)
    except BaseException:
        shutil.rmtree(dest, ignore_errors=True)
        raise


def _extract_one(
    archive: zipfile.ZipFile,
    name: str,
    root: Path,
    sha256: str | None,
    size: int | None,
) -> None:
    target = root.joinpath(*name.split("/"))
    # Belt and braces: names were verified, but never write outside the target whatever happens.
    if not target.resolve().is_relative_to(root):
        raise IntegrityError(f"{name!r} would be written outside {root}")
    target.parent.mkdir(parents=True, exist_ok=True)
    descriptor = os.open(target, _FLAGS, 0o644)
    with os.fdopen(descriptor, "wb") as out, archive.open(name) as stream:
        digest, written = copyfileobj_with_hashing(
            cast(BinaryIO, stream), cast(BinaryIO, out), "sha256"
        )
    if sha256 is not None and (urlsafe_b64_to_hex(digest) != sha256 or written != size):
        raise IntegrityError(
            f"{name!r} changed after verification: expected sha256 {sha256} ({size} bytes), "
            f"found {urlsafe_b64_to_hex(digest)} ({written} bytes)"
        )
