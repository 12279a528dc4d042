"""The index on a local directory: the embedded default backend.

Readers never see a partial object: every write goes to a temp file inside ``<root>/.tmp``
(same filesystem), is fsynced, and only then appears under its key, by ``os.link`` for
create-only writes (atomic, fails if the key exists) or by ``os.replace`` for the root.
``replace`` holds an exclusive ``flock`` on a per-key lock file while it compares and renames,
so two compare-and-swaps on one key are serialized between processes.

The ETag of an object is the sha256 of its bytes: it names exactly the content a caller
compared, so it is as safe for compare-and-swap as a version id, and it survives copies.
"""

from __future__ import annotations

import errno
import fcntl
import logging
import os
import shutil
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

from dioptra_plugins.errors import (
    ConflictError,
    ObjectExistsError,
    ObjectNotFoundError,
    StorageError,
    StorageOSError,
)
from dioptra_plugins.fsutil import fsync_dir
from dioptra_plugins.hashing import CHUNK_SIZE, file_sha256, sha256_hex
from dioptra_plugins.index.counting import RequestCounter
from dioptra_plugins.index.keys import check_key
from dioptra_plugins.index.storage import NotModified, ObjectInfo, StoredObject

log = logging.getLogger(__name__)

_SCRATCH = ".tmp"


class LocalStorage:
    """A :class:`~dioptra_plugins.index.storage.Storage` over a directory tree."""

    def __init__(self, root: Path) -> None:
        self.root = Path(os.path.abspath(root))
        self.url = str(self.root)
        # Local operations are syscalls, not requests; counted anyway so callers can report.
        self._counter = RequestCounter()

    @property
    def requests(self) -> int:
        """How many storage operations this instance made (one per call)."""
        return self._counter.value

    # --- helpers ---------------------------------------------------------------------------

    def _path(self, key: str) -> Path:
        return self.root / check_key(key)

    def _scratch(self) -> Path:
        scratch = self.root / _SCRATCH
        try:
            scratch.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _os_error("create", scratch, error) from error
        return scratch

    def _write_temp(self, data: bytes | BinaryIO) -> Path:
        """Write ``data`` to a fresh, fsynced temp file; the caller moves or removes it."""
        temp = self._scratch() / f"{uuid.uuid4().hex}.part"
        try:
            with open(temp, "xb") as out:
                if isinstance(data, bytes):
                    out.write(data)
                else:
                    shutil.copyfileobj(data, out, CHUNK_SIZE)
                out.flush()
                os.fsync(out.fileno())
        except OSError as error:
            _discard(temp)
            # The index, not the temp file inside it, is what the user can act on.
            raise StorageOSError("write into", str(self.root), error) from error
        return temp

    def _make_parent(self, path: Path) -> None:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
        except OSError as error:
            raise _os_error("create", path.parent, error) from error

    def _read(self, key: str) -> bytes | None:
        path = self._path(key)
        try:
            return path.read_bytes()
        except FileNotFoundError:
            return None
        except OSError as error:
            # NotADirectoryError too: a file where a folder of the index belongs is damage to
            # report, not an absent object (repair would otherwise rebuild without it).
            raise _os_error("read", path, error, self.root) from error

    # --- the Storage interface -------------------------------------------------------------

    def get(self, key: str) -> StoredObject:
        self._counter.add()
        data = self._read(key)
        if data is None:
            raise ObjectNotFoundError(key=key, url=self.url)
        return StoredObject(key, data, sha256_hex(data))

    def get_if_changed(self, key: str, etag: str) -> StoredObject | NotModified:
        stored = self.get(key)
        return NotModified(key, etag) if stored.etag == etag else stored

    def open(self, key: str) -> BinaryIO:
        self._counter.add()
        path = self._path(key)
        try:
            return path.open("rb")
        except FileNotFoundError as error:
            raise ObjectNotFoundError(key=key, url=self.url) from error
        except OSError as error:
            raise _os_error("read", path, error, self.root) from error

    def read_tail(self, key: str, length: int) -> bytes | None:
        self._counter.add()
        path = self._path(key)
        try:
            with path.open("rb") as stream:
                size = stream.seek(0, os.SEEK_END)
                stream.seek(max(0, size - length))
                return stream.read()
        except FileNotFoundError as error:
            raise ObjectNotFoundError(key=key, url=self.url) from error
        except OSError as error:
            raise _os_error("read", path, error, self.root) from error

    def put_new(self, key: str, data: bytes | BinaryIO) -> str:
        self._counter.add()
        path = self._path(key)
        temp = self._write_temp(data)
        try:
            self._make_parent(path)
            try:
                digest = file_sha256(temp)
                os.link(temp, path)
            except FileExistsError as error:
                raise ObjectExistsError(f"{key} already exists in {self.url}") from error
            except OSError as error:
                raise _os_error("create", path, error) from error
            self._sync_dir(path.parent)
            return digest
        finally:
            _discard(temp)

    def replace(self, key: str, data: bytes, if_match: str | None) -> str:
        self._counter.add()
        path = self._path(key)
        lock_path = self._scratch() / (key.replace("/", "%2F") + ".lock")
        try:
            lock = open(lock_path, "ab")  # noqa: SIM115 - held for the whole swap below
        except OSError as error:
            raise StorageOSError("open the lock file", str(lock_path), error) from error
        with lock:
            try:
                fcntl.flock(lock.fileno(), fcntl.LOCK_EX)
            except OSError as error:
                raise StorageOSError("lock", str(lock_path), error) from error
            current = self._read(key)
            current_etag = None if current is None else sha256_hex(current)
            if current_etag != if_match:
                found = "absent" if current_etag is None else f"at ETag {current_etag}"
                wanted = "absent" if if_match is None else f"at ETag {if_match}"
                raise ConflictError(f"{key} changed: expected it {wanted}, found it {found}")
            temp = self._write_temp(data)
            try:
                self._make_parent(path)
                os.replace(temp, path)
            except StorageError:
                _discard(temp)
                raise
            except OSError as error:
                _discard(temp)
                raise StorageOSError("replace", str(path), error) from error
            self._sync_dir(path.parent)
        return sha256_hex(data)

    def _check_folders(self, prefix: str) -> None:
        """Refuse to list ``projects/`` as empty when ``projects`` is a file: a repair would
        rebuild the root without every project (a file where a folder belongs is damage)."""
        folders = [part for part in prefix.split("/")[:-1] if part]
        candidate = self.root
        for part in ["", *folders]:
            candidate = candidate / part if part else candidate
            if candidate.exists() and not candidate.is_dir():
                raise StorageOSError(
                    "list",
                    str(self.root / prefix),
                    NotADirectoryError(errno.ENOTDIR, os.strerror(errno.ENOTDIR)),
                    reason=f"{candidate} is a file where a folder belongs",
                )

    @staticmethod
    def _sync_dir(directory: Path) -> None:
        """fsync a folder after a link or rename in it, as a library error if it fails."""
        try:
            fsync_dir(directory)
        except OSError as error:
            raise StorageOSError("sync", str(directory), error) from error

    def delete(self, key: str) -> None:
        """Remove ``key`` if it exists (only a lost swap's own history record, and document
        packs of roots replaced, are ever removed)."""
        self._counter.add()
        path = self._path(key)
        try:
            path.unlink(missing_ok=True)
        except OSError as error:
            raise StorageError(f"cannot remove {path}: {error}") from error

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        self._counter.add()
        self._check_folders(prefix)
        found: list[ObjectInfo] = []
        for directory, subdirs, files in os.walk(self.root, onerror=_raise_walk_error):
            subdirs[:] = sorted(d for d in subdirs if not d.startswith("."))
            relative = os.path.relpath(directory, self.root)
            for name in files:
                if name.startswith("."):
                    continue
                key = name if relative == "." else f"{relative}/{name}"
                if key.startswith(prefix):
                    file = os.path.join(directory, name)
                    try:
                        found.append(ObjectInfo(key, os.stat(file).st_size))
                    except FileNotFoundError:
                        continue  # removed while listing (a scratch file): not an object
                    except OSError as error:
                        raise StorageOSError("list", file, error) from error
        return iter(sorted(found, key=lambda info: info.key))

    def prepare(self) -> None:
        """Make sure the index directory exists (``index init``)."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
        except FileExistsError as error:
            raise StorageError(f"{self.root} exists and is not a directory") from error
        except OSError as error:
            raise _os_error("create", self.root, error) from error


def _raise_walk_error(error: OSError) -> None:
    if error.errno == errno.ENOENT:
        return  # an index that does not exist yet lists as empty
    raise _os_error("list", Path(str(error.filename)), error) from error


def _os_error(
    operation: str, path: Path, error: OSError, root: Path | None = None
) -> StorageOSError:
    """The library error for ``error``, naming the path to blame.

    mkdir(parents=True) may fail on an ancestor, which the system names; a file where a folder
    belongs (FileExistsError from mkdir(exist_ok=True), NotADirectoryError from a read) is
    found and named, since the system's own words ("File exists") point at the wrong thing.
    """
    blamed = Path(error.filename) if isinstance(error.filename, str) else path
    if isinstance(error, FileExistsError | NotADirectoryError):
        for candidate in (path, *path.parents):
            if root is not None and not candidate.is_relative_to(root.parent):
                break
            if candidate.exists() and not candidate.is_dir():
                reason = f"{candidate} is a file where a folder belongs"
                return StorageOSError(operation, str(path), error, reason=reason)
    return StorageOSError(operation, str(blamed), error)


def _discard(temp: Path) -> None:
    """Remove a temp file, best effort: it runs while another error is on its way out, and a
    second failure (EROFS from unlink even of a missing file) must never replace the first."""
    try:
        temp.unlink(missing_ok=True)
    except OSError as error:
        log.debug("could not remove the temp file %s: %s", temp, error)
