"""Downloading bundles, streamed and checked as bytes arrive, straight into the store.

Bundles are fetched in parallel (a bounded thread pool), each read in 1 MiB chunks from
``storage.open`` while its size and sha256 are checked.  A bundle of up to
:data:`IN_MEMORY_LIMIT` bytes is kept in memory, and only a complete, matching download is
handed on (to the store: verification and extraction in one pass).  A bigger one is handed on
while it downloads: its end (zip directory and ``.dist-info``) is read first with one ranged
request, so verification and extraction follow the download instead of waiting for it, through
a bounded window of memory (:mod:`.arriving`); the store takes the entry only once the download
has matched the index.  Where that cannot work (a host that ignores ``Range``, an archive whose
entries are out of order), a big bundle is downloaded first into a temporary file
``cache/.tmp-*/<wheel filename>``, deleted before the sync flushes the disk.  No bundle is held
in memory whole, and wheels are not kept: the store entry is the cache (a bundle already in
the store is not downloaded at all).

Only a broken stream is retried.  A full disk, an exceeded quota or a read-only file system
while writing a temporary file is not a network fault: it fails at once with a SyncError naming
the path.
"""

from __future__ import annotations

import contextlib
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
from typing import BinaryIO, Protocol, runtime_checkable

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
from dioptra_plugins.index.storage import Storage, WholeObject
from dioptra_plugins.plugindir.layout import TEMPORARY_PREFIX, PluginDirLayout
from dioptra_plugins.plugindir.pylock import LockedPackage
from dioptra_plugins.syncing.arriving import (
    ArrivingFile,
    DownloadCancelled,
    DownloadFailed,
    NotStreamable,
)

logger = logging.getLogger(__name__)

ATTEMPTS = 3
# A failed request was already retried by the storage (botocore's standard retries); only a
# stream that breaks after the request succeeded is retried here.
_NOT_RETRIED = (IntegrityError, BundleError, StorageError, UsageError, SyncError)
# Writing into the cache failed for a reason another attempt cannot change.
_DISK_ERRNOS = frozenset({errno.ENOSPC, errno.EDQUOT, errno.EROFS, errno.EFBIG})

Progress = Callable[[int, int], None]
"""Called with (bytes done, bytes total) as downloads advance; from worker threads."""


@runtime_checkable
class _ExplainsMismatch(Protocol):
    """A storage that knows what a bundle's bytes should be on its own authority (the signed
    index's :class:`~dioptra_plugins.signing.trust.SignedStorage`): it says whether bytes that
    did not match are a transfer cut short or not the signed bundle at all."""

    def bundle_mismatch(self, key: str, error: IntegrityError) -> IntegrityError: ...


IN_MEMORY_LIMIT = 32 * 1024 * 1024
"""Bundles up to this size are downloaded into memory, bigger ones into a temporary file."""

TAIL_LENGTH = 1024 * 1024
"""How much of a big bundle's end is read first.  Hatchling writes ``.dist-info`` last, so this
holds the zip directory, METADATA, WHEEL and RECORD of any bundle below the entry limits; a
bigger directory only means reads wait for the download (slower, never wrong)."""


@dataclass(frozen=True)
class FetchedBundle:
    """A bundle whose size and sha256 matched the index (its bytes, or a temporary file), or one
    still arriving, which is trusted only after :meth:`settle`."""

    package: LockedPackage
    path: Path
    """Names the wheel (its filename is what verification checks); the file when ``content``
    is None."""
    content: bytes | None
    arriving: ArrivingFile | None = None
    """The bytes as they download, readable meanwhile (then ``path`` is only the name)."""

    def settle(self) -> None:
        """Return once the bytes read are known to be the ones the index lists: at once for a
        complete download; for one still arriving, when it has ended and matched.  Raises
        DownloadFailed (the download's error) or IntegrityError."""
        if self.arriving is not None:
            self.arriving.settle()


class Stopped(BaseException):
    """Raised in a download thread once the sync was interrupted: the rest is not wanted.

    A ``BaseException``, so that no retry (``except Exception``) takes it for a broken stream.
    """


class _Meter:
    """Thread-safe byte counter feeding the progress callback; ``cancelled`` stops downloads."""

    def __init__(self, total: int, progress: Progress | None) -> None:
        self.total = total
        self.done = 0
        self.progress = progress
        self.lock = threading.Lock()
        self.cancelled = threading.Event()

    def add(self, count: int) -> None:
        if self.progress is None:
            return
        with self.lock:
            self.done += count
            self.progress(self.done, self.total)


def _create(path: Path) -> BinaryIO:
    """Open a new temporary file for a big bundle (the one place bundle bytes are written).

    Unbuffered: a byte reported as arrived must already be in the file for readers."""
    return path.open("xb", buffering=0)


def _write_all(out: BinaryIO, chunk: bytes) -> None:
    view = memoryview(chunk)
    while view:  # an unbuffered write may write less than it was given
        view = view[out.write(view) :]


def _receive(stream: BinaryIO, package: LockedPackage, key: str, meter: _Meter) -> Iterator[bytes]:
    """The chunks of ``stream``, checked against the size and sha256 the index lists."""
    digest = hashlib.sha256()
    received = 0
    while chunk := stream.read(CHUNK_SIZE):
        if meter.cancelled.is_set():
            raise Stopped(key)
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
    storage: Storage,
    layout: PluginDirLayout,
    package: LockedPackage,
    meter: _Meter,
    sent: BinaryIO | None = None,
) -> FetchedBundle:
    """One download of ``package``: from ``sent`` (already open, closed here) or a request."""
    key = bundle_key(package.name, package.filename)
    if package.size <= IN_MEMORY_LIMIT:
        with sent if sent is not None else storage.open(key) as stream:
            content = b"".join(_receive(stream, package, key, meter))
        return FetchedBundle(package, Path(package.filename), content)
    folder = temporary_folder(layout)
    target = folder / package.filename
    try:
        with contextlib.ExitStack() as stack:
            if sent is not None:
                stack.enter_context(sent)  # closed whatever happens next
            folder.mkdir()
            stream = sent if sent is not None else stack.enter_context(storage.open(key))
            out = stack.enter_context(_create(target))
            for chunk in _receive(stream, package, key, meter):
                _write_all(out, chunk)
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
    storage: Storage,
    layout: PluginDirLayout,
    package: LockedPackage,
    meter: _Meter,
    sent: BinaryIO | None = None,
) -> FetchedBundle:
    """Fetch one bundle, retrying a stream that broke (not a wrong one) twice.  The first
    attempt reads ``sent`` when given (the whole object a host sent for a tail request)."""
    for attempt in range(1, ATTEMPTS + 1):
        try:
            return _stream_once(storage, layout, package, meter, sent)
        except Exception as error:
            _retry_or_raise(package, attempt, error, storage)
        sent = None  # closed by the attempt that read it: the next one asks again
    raise AssertionError("unreachable")


def _retry_or_raise(
    package: LockedPackage, attempt: int, error: Exception, storage: Storage | None = None
) -> None:
    """Return (after a back-off) when attempt ``attempt`` of a download may be tried again,
    else raise what the caller should see."""
    if isinstance(error, IntegrityError) and isinstance(storage, _ExplainsMismatch):
        # On a signed index, "truncated download" would send the operator to retry what may
        # be a replaced bundle: the signed storage names the signed size and sha256 instead.
        explained = storage.bundle_mismatch(bundle_key(package.name, package.filename), error)
        if explained is not error:
            raise explained from error
    if isinstance(error, ObjectNotFoundError):
        raise SyncError(
            f"the index lists {package.filename} but its bundle is missing: {error}"
        ) from error
    if isinstance(error, _NOT_RETRIED):
        raise error
    if attempt == ATTEMPTS:
        raise SyncError(f"downloading {package.filename} failed {ATTEMPTS} times: {error}") from (
            error
        )
    logger.warning("download of %s broke (%s); retrying", package.filename, error)
    time.sleep(0.1 * attempt)


def stream_big(
    storage: Storage,
    layout: PluginDirLayout,
    package: LockedPackage,
    meter: _Meter,
    then: Callable[[FetchedBundle], object],
) -> None:
    """Download a big bundle and run ``then`` on it while it arrives; a download that broke is
    tried again twice, ``then`` included (what it extracted from the broken one is gone).

    Downloads first instead (to a temporary file) when the storage cannot read the tail (an
    HTTP host that ignores ``Range``) or the archive cannot be read in order.  Costs one request
    more than a plain download (the tail) and no disk space for the wheel.
    """
    for attempt in range(1, ATTEMPTS + 1):
        try:
            streamed = _stream_big_once(storage, package, meter, then)
            if streamed is not True:
                sent = streamed.stream if isinstance(streamed, WholeObject) else None
                fetched = download_one(storage, layout, package, meter, sent)
                try:
                    then(fetched)
                finally:
                    discard(fetched)
            return
        except DownloadFailed as failed:
            if not isinstance(failed.error, Exception):
                raise failed.error from None
            _retry_or_raise(package, attempt, failed.error, storage)
        except ObjectNotFoundError as error:  # reading the tail
            _retry_or_raise(package, attempt, error, storage)


def _stream_big_once(
    storage: Storage,
    package: LockedPackage,
    meter: _Meter,
    then: Callable[[FetchedBundle], object],
) -> bool | WholeObject:
    """One attempt of :func:`stream_big`: True when done; False when the bundle must be
    downloaded first, or the :class:`WholeObject` a host sent instead of the tail.

    A failure of the download is raised as DownloadFailed (also when ``then`` failed on the
    broken bytes first: the download's own error says what went wrong), anything else as is.
    """
    key = bundle_key(package.name, package.filename)
    tail = storage.read_tail(key, TAIL_LENGTH)
    if not isinstance(tail, bytes):
        # Each big bundle then costs a second write of its bytes (the temporary wheel).
        logger.info(
            "%s does not answer Range requests: downloading %s (%.1f MB) before verifying it",
            storage.url,
            package.filename,
            package.size / 1e6,
        )
        return False if tail is None else tail
    arriving = ArrivingFile(package.filename, package.size, tail[-package.size :])
    downloader = threading.Thread(
        target=_download_into,
        args=(storage, key, package, meter, arriving),
        name=f"download-{package.name}",
        daemon=True,
    )
    downloader.start()
    try:
        then(FetchedBundle(package, Path(package.filename), None, arriving))
    except DownloadFailed:
        raise
    except NotStreamable as error:
        logger.info("%s; downloading it first", error)
        return False
    except Exception:
        # Broken bytes read as a damaged bundle: the download's verdict (and the tail's) comes
        # first, as it does for a bundle downloaded before it is read.
        arriving.settle()
        raise
    finally:
        arriving.cancel()  # ``then`` is done; if it did not need the rest, stop reading it
        downloader.join()
    return True


def _download_into(
    storage: Storage, key: str, package: LockedPackage, meter: _Meter, arriving: ArrivingFile
) -> None:
    """The downloading thread of :func:`_stream_big_once`: every outcome reaches ``arriving``."""
    try:
        with storage.open(key) as stream:
            for chunk in _receive(stream, package, key, meter):
                arriving.arrived(chunk)
    except DownloadCancelled as cancelled:
        arriving.fail(cancelled)
    except BaseException as error:  # handed to the reading thread, which raises it
        arriving.fail(error)
    else:
        arriving.complete()


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
        raise UsageError(f"`jobs` must be at least 1, not {jobs}", parameters=("jobs",))
    store = os.fspath(layout.store)  # a string join and stat a package, not a Path's
    todo = [
        p for p in packages if include_stored or not os.path.isdir(os.path.join(store, p.sha256))
    ]
    if not todo:
        return 0
    if any(p.size > IN_MEMORY_LIMIT for p in todo):
        _make_download_cache(layout)
    meter = _Meter(sum(p.size for p in todo), progress)
    finished = 0
    count_lock = threading.Lock()

    def work(package: LockedPackage) -> None:
        nonlocal finished
        if meter.cancelled.is_set():
            raise Stopped(package.filename)
        if package.size > IN_MEMORY_LIMIT:
            stream_big(storage, layout, package, meter, then)
        else:
            fetched = download_one(storage, layout, package, meter)
            try:
                if meter.cancelled.is_set():
                    raise Stopped(package.filename)
                then(fetched)
            finally:
                discard(fetched)
        with count_lock:
            finished += 1
            if stored is not None:
                stored(finished, len(todo))

    _run_all(todo, work, meter, jobs)
    return len(todo)


def _make_download_cache(layout: PluginDirLayout) -> None:
    try:
        layout.cache.mkdir(parents=True, exist_ok=True)
    except OSError as mkdir_error:
        raise _disk_error(mkdir_error, layout.cache, "creating the download cache") from (
            mkdir_error
        )


def _run_all(
    todo: Sequence[LockedPackage],
    work: Callable[[LockedPackage], None],
    meter: _Meter,
    jobs: int,
) -> None:
    """``work`` on each package in a pool of ``jobs`` threads; the first error cancels the rest
    and is raised."""
    futures: list[Future[None]] = []
    with ThreadPoolExecutor(max_workers=min(jobs, len(todo))) as pool:
        try:
            futures.extend(pool.submit(work, p) for p in todo)
            while True:
                # Woken 10 times a second: a signal whose C handler ran in a download thread
                # only takes effect when this, the main thread, runs Python code.
                done, pending = wait(futures, timeout=0.1, return_when=FIRST_EXCEPTION)
                if not pending or any(f.exception() is not None for f in done):
                    break
        except BaseException:
            # Interrupted (a signal raises in this, the main thread): nothing new starts, and
            # downloads under way stop at their next chunk, so the pool's exit waits only for
            # bundles being stored right now (not for the rest of the downloads).
            meter.cancelled.set()
            for future in futures:
                future.cancel()
            raise
        for future in pending:
            future.cancel()
    for future in futures:
        if not future.cancelled() and (error := future.exception()) is not None:
            raise error
