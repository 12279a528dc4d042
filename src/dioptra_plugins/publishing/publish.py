"""Publish bundles into an index: verify, upload create-only, then one root swap for all.

The order is what makes a crash harmless and hostile input inert:

1. every wheel is verified completely; a refused wheel stops the publish before any upload;
2. the current root is read and each file is compared with what the index already lists
   (identical bytes: "already published", nothing to do; different bytes: refused);
3. the new bundles are uploaded in parallel with create-only writes, while the new project
   documents are written (unreferenced until the swap);
4. once every upload succeeded, one compare-and-swap of the root adds all of them
   (``swap.change_root``);
5. the PEP 503 pages of the changed projects are regenerated.

On a signed index the signing policy (``signing.policy``) applies whoever calls: without keys
the publish is refused before step 2; with them, each swap attempt first checks its base root
against the signed metadata and signs the new root, and the winner's signature is put in place
right after the swap (before step 5).
"""

from __future__ import annotations

import contextlib
import io
import logging
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import Future, ThreadPoolExecutor, as_completed
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, BinaryIO, cast

from dioptra_plugins.bundle.verify import Limits, VerifiedBundle, verify_wheel
from dioptra_plugins.errors import ObjectExistsError, PublishError
from dioptra_plugins.hashing import sha256_hex, sha256_stream
from dioptra_plugins.index.documents import FileEntry, ProjectDocument, RootDocument
from dioptra_plugins.index.keys import bundle_key, core_metadata_key, is_normalized_name
from dioptra_plugins.index.reading import DocumentCache, read_root
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.swap import change_root
from dioptra_plugins.publishing.after_swap import finish_swap
from dioptra_plugins.signing import open_writer

if TYPE_CHECKING:
    import os

    from dioptra_plugins.signing.outcome import SignResult

log = logging.getLogger(__name__)

PUBLISHED = "published"
WOULD_PUBLISH = "would publish"
ALREADY_PUBLISHED = "already published"

ProgressCallback = Callable[[str], None]
"""Called with a wheel's filename once its bundle is in the index (uploaded or already there)."""


@dataclass(frozen=True)
class PublishedFile:
    name: str
    version: str
    filename: str
    sha256: str
    status: str
    """``published`` or ``already published``."""


@dataclass(frozen=True)
class PublishResult:
    files: tuple[PublishedFile, ...]
    serial: int
    """The root serial after the publish (unchanged when everything was already published)."""
    swapped: bool
    attempts: int
    """Compare-and-swap attempts of the root (1 without contention)."""
    url: str = ""
    signed: SignResult | None = None
    """What was signed (None: an unsigned index, a dry run, or nothing to publish)."""
    requests: int = 0
    """Requests made to the index (S3: HTTP requests, retries included)."""


def utc_now() -> str:
    return datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def publish(
    storage: Storage,
    wheels: Sequence[Path],
    *,
    progress: ProgressCallback | None = None,
    sent: Callable[[int], None] | None = None,
    limits: Limits | None = None,
    max_workers: int = 8,
    dry_run: bool = False,
    keys: str | os.PathLike[str] | None = None,
) -> PublishResult:
    """Publish ``wheels`` to ``storage``; raises BundleError/PublishError before writing.

    ``sent(n)`` is told of every ``n`` bundle bytes read for upload (a byte progress bar).
    ``dry_run`` verifies and compares with the index, and writes nothing: each file's status
    says what a publish would do (``would publish`` or ``already published``).
    ``keys``: the key directory of a signed index (SigningError without it, before anything
    is written; UnsignedRootError when the index root is not the signed one).
    """
    start = storage.requests
    bundles = _verify_all(wheels, limits or Limits())
    writer = None if dry_run else open_writer(storage, keys, action="publish")
    cache = DocumentCache(storage)
    snapshot = read_root(storage)
    if writer is not None:
        writer.check(snapshot)  # before any upload
    pending = _not_listed(bundles, cache, snapshot.root, progress)
    if dry_run:
        return _dry_run(storage, bundles, pending, snapshot.root.serial, storage.requests - start)
    adding = _AddFiles(bundles, utc_now())
    with ThreadPoolExecutor(max_workers=max(1, min(max_workers, len(pending)))) as pool:
        uploads = [pool.submit(_upload, storage, bundle, sent) for bundle in pending]
        swap = change_root(
            storage,
            adding,
            before_swap=lambda: _wait_for(uploads, progress),
            before_replace=writer.before_replace if writer else None,
            cache=cache,
            first=snapshot,
        )
    signed = finish_swap(storage, swap, writer)
    statuses = {
        b.filename: ALREADY_PUBLISHED if b.filename in adding.already else PUBLISHED
        for b in bundles
    }
    return PublishResult(
        _published(bundles, statuses),
        swap.root.serial,
        swap.swapped,
        swap.attempts,
        storage.url,
        signed,
        storage.requests - start,
    )


def _dry_run(
    storage: Storage,
    bundles: Sequence[VerifiedBundle],
    pending: Sequence[VerifiedBundle],
    serial: int,
    requests: int,
) -> PublishResult:
    """What a publish would do: ``pending`` would be published, the others are already."""
    waiting = {b.filename for b in pending}
    statuses = {
        b.filename: WOULD_PUBLISH if b.filename in waiting else ALREADY_PUBLISHED for b in bundles
    }
    return PublishResult(
        _published(bundles, statuses), serial, False, 0, storage.url, requests=requests
    )


def _wait_for(uploads: list[Future[str]], progress: ProgressCallback | None) -> None:
    """Wait for every upload, telling ``progress`` of each as it finishes.

    Bundles upload while the first swap attempt writes its project documents; the root is
    replaced only once every upload has succeeded (an upload's error is raised here).  A later
    attempt finds the list empty: its bundles are in already.
    """
    for finished in as_completed(uploads):
        filename = finished.result()
        if progress:
            progress(filename)
    uploads.clear()


def _not_listed(
    bundles: Sequence[VerifiedBundle],
    cache: DocumentCache,
    root: RootDocument,
    progress: ProgressCallback | None,
) -> list[VerifiedBundle]:
    """The bundles ``root`` does not list yet; those it lists (same bytes) count as done."""
    pending: list[VerifiedBundle] = []
    for bundle in bundles:
        if _listed(cache.get(root, bundle.name), bundle):
            log.info("%s: already published", bundle.filename)
            if progress:
                progress(bundle.filename)
        else:
            pending.append(bundle)
    return pending


class _AddFiles:
    """The change a publish makes to a root: each bundle's file added to its project document.

    Called again on each swap attempt, against that attempt's root; ``already`` names the
    bundles the last root called with listed already (a concurrent publisher's, perhaps).
    """

    def __init__(self, bundles: Sequence[VerifiedBundle], upload_time: str) -> None:
        self.bundles = bundles
        self.upload_time = upload_time
        self.already: set[str] = set()

    def __call__(
        self, root: RootDocument, documents: DocumentCache
    ) -> Mapping[str, ProjectDocument]:
        self.already.clear()
        changed: dict[str, ProjectDocument] = {}
        for bundle in self.bundles:
            document = changed.get(bundle.name) or documents.get(root, bundle.name)
            if _listed(document, bundle):
                self.already.add(bundle.filename)
                continue
            files = document.files if document else ()
            changed[bundle.name] = ProjectDocument(
                name=bundle.name, files=(*files, file_entry(bundle, self.upload_time))
            )
        return changed


def _published(
    bundles: Sequence[VerifiedBundle], statuses: Mapping[str, str]
) -> tuple[PublishedFile, ...]:
    """What happened (or would happen) to each bundle, by filename, in the order given."""
    return tuple(
        PublishedFile(b.name, b.version, b.filename, b.sha256, statuses[b.filename])
        for b in bundles
    )


def _verify_all(wheels: Sequence[Path], limits: Limits) -> list[VerifiedBundle]:
    """Verify every wheel (BundleError on the first refused one); drop exact duplicates."""
    by_filename: dict[str, VerifiedBundle] = {}
    for wheel in wheels:
        bundle = verify_wheel(Path(wheel), limits)
        if not is_normalized_name(bundle.name):
            raise PublishError(f"{wheel}: {bundle.name!r} is not a valid project name")
        seen = by_filename.get(bundle.filename)
        if seen is not None and seen.sha256 != bundle.sha256:
            raise PublishError(
                f"two different files named {bundle.filename} were given: {seen.path} "
                f"(sha256 {seen.sha256}) and {wheel} (sha256 {bundle.sha256})"
            )
        by_filename[bundle.filename] = bundle
    return list(by_filename.values())


def _listed(document: ProjectDocument | None, bundle: VerifiedBundle) -> bool:
    """True if the project already lists these exact bytes; refuses different bytes."""
    entry = document.file_named(bundle.filename) if document else None
    if entry is None:
        return False
    if entry.sha256 != bundle.sha256:
        raise PublishError(
            f"{bundle.filename} is already published with different content (index sha256 "
            f"{entry.sha256}, this file {bundle.sha256}); publish a new version instead"
        )
    return True


def _upload(storage: Storage, bundle: VerifiedBundle, sent: Callable[[int], None] | None) -> str:
    key = bundle_key(bundle.name, bundle.filename)
    try:
        with bundle.path.open("rb") as stream:
            body = stream if sent is None else cast(BinaryIO, _CountingReader(stream, sent))
            storage.put_new(key, body)
        log.info("uploaded %s", key)
    except ObjectExistsError:
        # Left by an earlier publish that crashed before its swap, or by a concurrent one.
        found = _stored_sha256(storage, key)
        if found != bundle.sha256:
            raise PublishError(
                f"{key} already exists in {storage.url} with different content (sha256 "
                f"{found}, this file {bundle.sha256}); publish a new version instead"
            ) from None
        log.info("%s is already in the index with identical bytes", key)
    # Also after "already there": an earlier publish may have died between the two writes.
    _upload_core_metadata(storage, bundle)
    return bundle.filename


def _upload_core_metadata(storage: Storage, bundle: VerifiedBundle) -> None:
    """``<wheel>.metadata`` beside the bundle (PEP 658): resolvers read requirements from it
    without downloading the wheel.  Its sha256 is the document's ``core_metadata_sha256``."""
    with zipfile.ZipFile(bundle.path) as archive:
        data = archive.read(f"{bundle.dist_info}/METADATA")
    if sha256_hex(data) != bundle.metadata_sha256:
        raise PublishError(f"{bundle.path} changed while it was being published")
    with contextlib.suppress(ObjectExistsError):  # the same bytes, left by an earlier attempt
        storage.put_new(core_metadata_key(bundle.name, bundle.filename), data)


def _stored_sha256(storage: Storage, key: str) -> str:
    with storage.open(key) as stream:
        return sha256_stream(stream)[0]


def file_entry(bundle: VerifiedBundle, upload_time: str) -> FileEntry:
    """How a project document lists ``bundle`` (published at ``upload_time``)."""
    return FileEntry(
        filename=bundle.filename,
        version=bundle.version,
        sha256=bundle.sha256,
        size=bundle.size,
        requires_python=bundle.requires_python,
        requires_dist=tuple(bundle.requires_dist),
        yanked=False,
        yanked_reason=None,
        upload_time=upload_time,
        core_metadata_sha256=bundle.metadata_sha256,
        top_level=bundle.top_level,
        manifest=bundle.manifest,
    )


class _CountingReader(io.RawIOBase):
    """A seekable file that reports the bytes read from it (an upload's progress).

    The uploader may seek back (a retry, a checksum pass): bytes read again are reported
    again, so a progress total can run ahead of the file size; callers clamp.
    """

    def __init__(self, stream: BinaryIO, sent: Callable[[int], None]) -> None:
        self._stream = stream
        self._sent = sent

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def seek(self, offset: int, whence: int = io.SEEK_SET) -> int:
        return self._stream.seek(offset, whence)

    def tell(self) -> int:
        return self._stream.tell()

    def readinto(self, buffer: Any) -> int:
        data = self._stream.read(len(buffer))
        buffer[: len(data)] = data
        if data:
            self._sent(len(data))
        return len(data)
