"""Downloading bundles into the content-addressed cache, streaming and checked as bytes arrive.

Bundles are fetched in parallel (a bounded thread pool), each streamed in 1 MiB chunks from
``storage.open`` into ``cache/.tmp-*`` while its size and sha256 are checked; only a complete,
matching file is renamed to ``cache/<sha256>/<wheel filename>``.  No bundle is ever held in
memory whole.

A cache hit is trusted by its name here and checked later for free: the store verifies every
wheel before extracting it, and that verification hashes the whole file and compares it with
the index's sha256 (see store.add_to_store), so a corrupted cache file is caught (and deleted)
without reading it twice.  Bundles already in the store are not downloaded at all.

Only a broken stream is retried.  A full disk, an exceeded quota or a read-only file system
while writing into the cache is not a network fault: it fails at once with a SyncError naming
the path.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import logging
import os
import secrets
import threading
import time
from collections.abc import Callable, Sequence
from concurrent.futures import FIRST_EXCEPTION, Future, ThreadPoolExecutor, wait
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
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.syncing.pylock import LockedPackage

logger = logging.getLogger(__name__)

ATTEMPTS = 3
# A failed request was already retried by the storage (botocore's standard retries); only a
# stream that breaks after the request succeeded is retried here.
_NOT_RETRIED = (IntegrityError, BundleError, StorageError, UsageError)
# Writing into the cache failed for a reason another attempt cannot change.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as downloads advance; from worker threads."""


def cache_path(layout: PluginDirLayout, package: LockedPackage) -> Path:
    """``cache/<sha256>/<wheel filename>``: content-addressed, and still a valid wheel name."""
    return layout.cache / package.sha256 / package.filename


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
    """Open a new temporary cache file for writing (the one place bundle bytes are written)."""
    return path.open("wb")


def _stream_once(storage: Storage, package: LockedPackage, target: Path, meter: _Meter) -> None:
    key = bundle_key(package.name, package.filename)
    tmp = target.parent.parent / f".tmp-{secrets.token_hex(6)}"
    digest = hashlib.sha256()
    received = 0
    try:
        with storage.open(key) as stream, _create(tmp) as out:
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
                out.write(chunk)
                meter.add(len(chunk))
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
        target.parent.mkdir(exist_ok=True)
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
        raise


def download_one(storage: Storage, package: LockedPackage, target: Path, meter: _Meter) -> Path:
    """Fetch one bundle to ``target``, retrying a stream that broke (not a wrong one) twice."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            _stream_once(storage, package, target, meter)
            return target
        except ObjectNotFoundError as error:
            raise SyncError(
                f"the index lists {package.filename} but its bundle is missing: {error}"
            ) from error
        except _NOT_RETRIED:
            raise
        except Exception as error:
            if isinstance(error, OSError) and error.errno in _DISK_ERRNOS:
                raise _disk_error(error, target, f"downloading {package.filename}") from error
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
    then: Callable[[LockedPackage, Path], object],
    *,
    jobs: int = 8,
    progress: Progress | None = None,
    include_stored: bool = False,
    stored: Progress | None = None,
) -> int:
    """Bring every package not yet in the store (every package, with ``include_stored``) to a
    local wheel and call ``then`` on it.

    Runs in a pool of ``jobs`` threads, so downloads overlap with ``then`` (verification and
    extraction).  A cached wheel that ``then`` rejects (it was corrupted on disk) is downloaded
    once more.  On the first failure the remaining work is cancelled and the error raised;
    completed downloads stay in the cache (they were checked, so a later sync may use them).
    ``progress(bytes done, bytes total)`` follows the downloads, ``stored(packages done,
    packages total)`` the packages verified and stored.  Returns the number of bundles
    downloaded.
    """
    if jobs < 1:
        raise UsageError(f"--jobs must be at least 1, not {jobs}")
    todo = [p for p in packages if include_stored or not (layout.store / p.sha256).is_dir()]
    if not todo:
        return 0
    try:
        layout.cache.mkdir(parents=True, exist_ok=True)
    except OSError as mkdir_error:
        raise _disk_error(mkdir_error, layout.cache, "creating the download cache") from mkdir_error
    missing = [p for p in todo if not cache_path(layout, p).is_file()]
    meter = _Meter(sum(p.size for p in missing), progress)
    downloads = 0
    finished = 0
    count_lock = threading.Lock()

    def done_with(package: LockedPackage, path: Path) -> None:
        nonlocal finished
        then(package, path)
        with count_lock:
            finished += 1
            if stored is not None:
                stored(finished, len(todo))

    def work(package: LockedPackage) -> None:
        nonlocal downloads
        path = cache_path(layout, package)
        if path.is_file():
            try:
                done_with(package, path)
                return
            except (IntegrityError, BundleError) as error:
                logger.warning("cached %s is damaged (%s); downloading it again", path, error)
        download_one(storage, package, path, meter)
        with count_lock:
            downloads += 1
        done_with(package, path)

    with ThreadPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
        futures: list[Future[None]] = [pool.submit(work, p) for p in todo]
        _done, pending = wait(futures, return_when=FIRST_EXCEPTION)
        for future in pending:
            future.cancel()
    for future in futures:
        if not future.cancelled() and (error := future.exception()) is not None:
            raise error
    return downloads
