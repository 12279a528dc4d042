"""Downloading bundles, streamed and checked as bytes arrive, straight into the store.

Bundles are fetched in parallel (a bounded thread pool), each read in 1 MiB chunks from
``storage.open`` while its size and sha256 are checked.  A bundle of up to
:data:`IN_MEMORY_LIMIT` bytes is kept in memory; a bigger one is written to a temporary file
``cache/.tmp-*/<wheel filename>``, so no bundle is ever held in memory whole.  Only a complete,
matching download is handed on (to the store: verification and extraction in one pass), and
then dropped: wheels are not kept, the store entry is the cache (a bundle already in the store
is not downloaded at all).  A big bundle's temporary file is deleted before the sync flushes
the disk, so its bytes are normally never written out.

Only a broken stream is retried.  A full disk, an exceeded quota or a read-only file system
while writing a temporary file is not a network fault: it fails at once with a SyncError naming
the path.
"""

from __future__ import annotations

import errno
import hashlib
import logging
import os
import secrets
import shutil
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from dioptra_plugins.errors import (
    BundleError,
    IntegrityError,
    ObjectNotFoundError,
    StorageError,
    SyncError,
    UsageError,
)
from dioptra_plugins.hashing import CHUNK_SIZE
from dioptra_plugins.index.keys import bundle_key
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.plugindir.layout import TEMPORARY_PREFIX, PluginDirLayout
from dioptra_plugins.syncing.pylock import LockedPackage

logger = logging.getLogger(__name__)

ATTEMPTS = 3
# A failed request was already retried by the storage (botocore's standard retries); only a
# stream that breaks after the request succeeded is retried here.
_NOT_RETRIED = (IntegrityError, BundleError, StorageError, UsageError, SyncError)
# Writing into the cache failed for a reason another attempt cannot change.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as downloads advance; from worker threads."""


IN_MEMORY_LIMIT = 32 * 1024 * 1024
"""Bundles up to this size are downloaded into memory, bigger ones into a temporary file."""


@dataclass(frozen=True)
class FetchedBundle:
    """A bundle whose size and sha256 matched the index: its bytes, or a temporary file."""

    package: LockedPackage
    path: Path
    """Names the wheel (its filename is what verification checks); the file when ``content``
    is None."""
    content: bytes | None


class _Meter:
    """Thread-safe byte counter feeding the progress callback."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self.lock = threading.Lock()

    def add(self, count: int) -> None:
        if self.progress is None:
            return
        with self.lock:
            self.done += count
            self.progress(self.done, self.total)


def _create(path: Path) -> BinaryIO:
    """Open a new temporary file for a big bundle (the one place bundle bytes are written)."""
    return path.open("wb")


def _receive(stream: BinaryIO, package: LockedPackage, key: str, meter: _Meter) -> Iterator[bytes]:
    """The chunks of ``stream``, checked against the size and sha256 the index lists."""
    digest = hashlib.sha256()
    received = 0
    while chunk := stream.read(CHUNK_SIZE):
        received += len(chunk)
        if received > package.size:
            raise IntegrityError(
                f"{key}: more than the {package.size} bytes the index lists",
                subject=key,
                expected=f"{package.size} bytes",
                found=f"more than {package.size} bytes",
            )
        digest.update(chunk)
        meter.add(len(chunk))
        yield chunk
    if received != package.size:
        raise IntegrityError(
            f"{key}: truncated download, {received} of {package.size} bytes",
            subject=key,
            expected=f"{package.size} bytes",
            found=f"{received} bytes",
        )
    if digest.hexdigest() != package.sha256:
        raise IntegrityError(
            f"{key}: sha256 {digest.hexdigest()} does not match the index's {package.sha256}",
            subject=key,
            expected=f"sha256 {package.sha256}",
            found=f"sha256 {digest.hexdigest()}",
        )


def _stream_once(
    storage: Storage, layout: PluginDirLayout, package: LockedPackage, meter: _Meter
) -> FetchedBundle:
    key = bundle_key(package.name, package.filename)
    if package.size <= IN_MEMORY_LIMIT:
        with storage.open(key) as stream:
            content = b"".join(_receive(stream, package, key, meter))
        return FetchedBundle(package, Path(package.filename), content)
    folder = temporary_folder(layout)
    target = folder / package.filename
    try:
        folder.mkdir()
        with storage.open(key) as stream, _create(target) as out:
            for chunk in _receive(stream, package, key, meter):
                out.write(chunk)
    except BaseException as error:
        shutil.rmtree(folder, ignore_errors=True)
        if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
            raise _disk_error(error, target, f"downloading {package.filename}") from error
        raise
    return FetchedBundle(package, target, None)


def temporary_folder(layout: PluginDirLayout) -> Path:
    """A fresh ``cache/.tmp-*`` name for one big download (removed once it is stored)."""
    return layout.cache / f"{TEMPORARY_PREFIX}{secrets.token_hex(6)}"


def discard(fetched: FetchedBundle) -> None:
    """Forget a download: a big bundle's temporary folder is deleted."""
    if fetched.content is None:
        shutil.rmtree(fetched.path.parent, ignore_errors=True)


def download_one(
    storage: Storage, layout: PluginDirLayout, package: LockedPackage, meter: _Meter
) -> FetchedBundle:
    """Fetch one bundle, retrying a stream that broke (not a wrong one) twice."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _stream_once(storage, layout, package, meter)
        except ObjectNotFoundError as error:
            raise SyncError(
                f"the index lists {package.filename} but its bundle is missing: {error}"
            ) from error
        except _NOT_RETRIED:
            raise
        except Exception as error:
            if attempt == ATTEMPTS:
                raise SyncError(
                    f"downloading {package.filename} failed {ATTEMPTS} times: {error}"
                ) from error
            logger.warning("download of %s broke (%s); retrying", package.filename, error)
            time.sleep(0.1 * attempt)
    raise AssertionError("unreachable")


def _disk_error(error: OSError, path: Path, doing: str) -> SyncError:
    """``cannot write <path> (downloading x.whl): no space left on device``; never retried."""
    reason = os.strerror(error.errno).lower() if error.errno else str(error)
    return SyncError(f"cannot write {path} ({doing}): {reason}")


def fetch_bundles(
    storage: Storage,
    layout: PluginDirLayout,
    packages: Sequence[LockedPackage],
    then: Callable[[FetchedBundle], object],
    *,
    jobs: int = 8,
    progress: Progress | None = None,
    include_stored: bool = False,
    stored: Progress | None = None,
) -> int:
    """Download every package not yet in the store (every package, with ``include_stored``) and
    call ``then`` on each checked download.

    Runs in a pool of ``jobs`` threads, so downloads overlap with ``then`` (verification and
    extraction).  On the first failure the remaining work is cancelled and the error raised.
    ``progress(bytes done, bytes total)`` follows the downloads, ``stored(packages done, packages
    total)`` the packages verified and stored.  Returns the number of bundles downloaded.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    todo = [p for p in packages if include_stored or not layout.store_entry(p.sha256).is_dir()]
    if not todo:
        return 0
    if any(p.size > IN_MEMORY_LIMIT for p in todo):
        try:
            layout.cache.mkdir(parents=True, exist_ok=True)
        except OSError as mkdir_error:
            raise _disk_error(mkdir_error, layout.cache, "creating the download cache") from (
                mkdir_error
            )
    meter = _Meter(sum(p.size for p in todo), progress)
    finished = 0
    count_lock = threading.Lock()

    def work(package: LockedPackage) -> None:
        nonlocal finished
        fetched = download_one(storage, layout, package, meter)
        try:
            then(fetched)
        finally:
            discard(fetched)
        with count_lock:
            finished += 1
            if stored is not None:
                stored(finished, len(todo))

    with ThreadPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
        futures: list[Future[None]] = [pool.submit(work, p) for p in todo]
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
    for future in futures:
        if not future.cancelled() and (error := future.exception()) is not None:
            raise error
    return len(todo)
