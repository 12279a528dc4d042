"""Reading a signed index: ngclient verifies, and the sync engine sees only verified bytes.

:class:`SignedStorage` wraps an index's storage for one sync.  Asked for ``index.json`` it runs
ngclient's ``Updater.refresh()`` (root chain, timestamp, snapshot, targets, every rule of the
TUF client workflow: signatures against the trusted root, versions never going back, expiry,
lengths and hashes between the roles) through a :class:`StorageFetcher` over the same storage,
and answers with the root bytes carried by the signed ``index.json`` target; the unsigned
``index.json`` is never read.  Every other object is served only if it is a target: project
documents are checked against the target's length and sha256 before the engine sees them,
bundles must be targets (their bytes are checked as they stream, against the sha256 and size
of the verified document, which equal the target's).

ngclient keeps its trusted metadata in a directory; here that is a temporary copy of
``cache/tuf/<index id>/`` in the plugin dir, written back by :meth:`SignedStorage.keep` only
after the sync succeeded, so a refused sync leaves the plugin dir byte-identical.

Cost of a sync with nothing new: two requests, the probe for the next root version (a 404)
and a conditional GET of ``tuf/timestamp.json``; snapshot and targets come from the cache.
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import TargetFile  # type: ignore[attr-defined]
from tuf.ngclient.config import UpdaterConfig
from tuf.ngclient.fetcher import FetcherInterface
from tuf.ngclient.updater import Updater

from dioptra_plugins.errors import (
    DioptraPluginsError,
    IntegrityError,
    ObjectNotFoundError,
    StorageError,
    UsageError,
)
from dioptra_plugins.fsutil import write_atomic
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.index.storage import (
    NotModified,
    ObjectInfo,
    Storage,
    StoredObject,
    WholeObject,
)
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.signing import TRUST_VARIABLE, SignedMismatchError, TrustError
from dioptra_plugins.signing.keys import parse_root
from dioptra_plugins.signing.names import TIMESTAMP_KEY, TUF_DIR
from dioptra_plugins.signing.refusals import refusal
from dioptra_plugins.signing.targets import carried_root

logger = logging.getLogger(__name__)

ETAG_PREFIX = "tuf:"
"""The ETag a signed root is recorded with in ``state.json``: ``tuf:<sha256 of its bytes>``."""
_ETAGS = "etags.json"
_KEPT = ("timestamp.json", "snapshot.json", "targets.json")


class StorageFetcher(FetcherInterface):
    """ngclient's downloads as reads of the index storage (``tuf/...`` keys only).

    ``known`` holds (ETag, bytes) of objects read before: those are fetched conditionally.
    """

    def __init__(self, storage: Storage, known: dict[str, tuple[str, bytes]]) -> None:
        self.storage = storage
        self.known = known
        self.served: dict[str, tuple[str, bytes]] = {}
        self.missing: list[str] = []

    def _fetch(self, url: str) -> Iterator[bytes]:
        if not url.startswith(f"{TUF_DIR}/"):
            raise tuf_errors.DownloadError(f"refusing to fetch {url!r} outside {TUF_DIR}/")
        key = url
        try:
            known = self.known.get(key)
            if known is not None:
                found = self.storage.get_if_changed(key, known[0])
                stored = (
                    StoredObject(key, known[1], known[0])
                    if isinstance(found, NotModified)
                    else found
                )
            else:
                stored = self.storage.get(key)
        except ObjectNotFoundError:
            self.missing.append(key)
            raise tuf_errors.DownloadHTTPError(f"{key} does not exist", 404) from None
        self.served[key] = (stored.etag, stored.data)
        return iter((stored.data,))


def read_trust(trust: str | os.PathLike[str] | bytes) -> tuple[bytes, str]:
    """The trusted root's bytes and a name for messages; UsageError when unusable."""
    if isinstance(trust, bytes):
        data, name = trust, "the trusted root"
    else:
        name = os.fspath(trust)
        try:
            data = Path(name).read_bytes()
        except FileNotFoundError:
            raise UsageError(
                f"trusted root {name} does not exist (--trust / ${TRUST_VARIABLE})"
            ) from None
        except OSError as error:
            raise UsageError(f"cannot read trusted root {name}: {error.strerror}") from error
    parse_root(data, name)
    return data, name


def cache_dir(layout: PluginDirLayout, index_url: str) -> Path:
    """``cache/tuf/<id>``: ngclient's trusted metadata of one index URL (not a 64-hex name,
    so gc, which collects those in ``cache/``, leaves it alone)."""
    return layout.cache / "tuf" / sha256_hex(index_url.encode())[:16]


@dataclass
class _Verified:
    root_bytes: bytes
    etag: str
    updater: Updater
    files: dict[str, bytes]
    """ngclient's metadata dir after the refresh (relative path -> bytes), kept on success."""
    etags: dict[str, str]


class SignedStorage:
    """A read-only storage over ``inner`` that serves only what the signed metadata pins."""

    def __init__(self, inner: Storage, trust: bytes, trust_name: str, cache: Path | None) -> None:
        self.inner = inner
        self.url = inner.url
        self.trust = trust
        self.trust_name = trust_name
        self.cache = cache
        self._verified: _Verified | None = None
        self._seeded: dict[str, bytes] = {}

    @classmethod
    def wrap(
        cls,
        inner: Storage,
        trust: str | os.PathLike[str] | bytes,
        layout: PluginDirLayout | None,
    ) -> SignedStorage:
        data, name = read_trust(trust)
        return cls(inner, data, name, cache_dir(layout, inner.url) if layout else None)

    @property
    def requests(self) -> int:
        return self.inner.requests

    # --- verification ----------------------------------------------------------------------

    def verified(self) -> _Verified:
        """Refresh the metadata once (on the first read of the root) and check the root."""
        if self._verified is None:
            self._verified = self._refresh()
        return self._verified

    def _refresh(self) -> _Verified:
        prefix = f"refusing the signed index at {self.url}"
        with tempfile.TemporaryDirectory(prefix="dioptra-plugins-tuf-") as workdir:
            known = self._seed(Path(workdir))
            fetcher = StorageFetcher(self.inner, known)
            try:
                updater = Updater(
                    metadata_dir=workdir,
                    metadata_base_url=f"{TUF_DIR}/",
                    fetcher=fetcher,
                    config=UpdaterConfig(prefix_targets_with_hash=False),
                    bootstrap=self.trust,
                )
            except (tuf_errors.RepositoryError, ValueError) as error:
                raise UsageError(
                    f"{self.trust_name} is not a usable trusted root: {error}"
                ) from None
            try:
                updater.refresh()
                target = updater.get_targetinfo(ROOT_KEY)
            except (tuf_errors.RepositoryError, tuf_errors.DownloadError) as error:
                raise refusal(
                    prefix, error, fetcher.served, fetcher.missing, Path(workdir)
                ) from None
            root_bytes = carried_root(target, prefix, TrustError)
            files = _read_tree(Path(workdir))
        # The ETag of the timestamp now trusted, for the next sync's conditional GET.
        etags = {
            key: etag
            for key, (etag, data) in fetcher.served.items()
            if key == TIMESTAMP_KEY and files.get("timestamp.json") == data
        }
        verified = _Verified(
            root_bytes, ETAG_PREFIX + sha256_hex(root_bytes), updater, files, etags
        )
        self._check_projects(prefix, verified)
        return verified

    def _seed(self, workdir: Path) -> dict[str, tuple[str, bytes]]:
        """Copy the kept trusted metadata into ngclient's working dir; the known ETags."""
        if self.cache is None:
            return {}
        self._seeded = _read_tree(self.cache)
        for relative, data in self._seeded.items():
            if relative == _ETAGS:
                continue
            target = workdir / relative
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(data)
        known: dict[str, tuple[str, bytes]] = {}
        try:
            etags = json.loads((self.cache / _ETAGS).read_bytes())
            timestamp = (workdir / "timestamp.json").read_bytes()
            etag = etags.get(TIMESTAMP_KEY)
            if isinstance(etag, str):
                known[TIMESTAMP_KEY] = (etag, timestamp)
        except (OSError, ValueError, AttributeError):
            pass
        return known

    def _check_projects(self, prefix: str, verified: _Verified) -> None:
        """Every project document the signed root names is a target with that sha256."""
        root = RootDocument.from_bytes(verified.root_bytes, what=f"{self.url} (signed root)")
        for name, entry in root.projects.items():
            target = verified.updater.get_targetinfo(entry.document)
            if target is None or target.hashes.get("sha256") != entry.sha256:
                raise TrustError(
                    f"{prefix}: the signed root names {entry.document} for {name}, which is not "
                    "a signed target with that sha256"
                )

    def _target(self, key: str) -> TargetFile:
        target = self.verified().updater.get_targetinfo(key)
        if target is None:
            raise TrustError(
                f"refusing {self.url}/{key}: it is not a target of the signed index metadata"
            )
        return target

    def bundle_mismatch(self, key: str, error: IntegrityError) -> IntegrityError:
        """What a download of ``key`` whose bytes did not match (``error``) means here.

        The sync engine holds a bundle to the size and sha256 of a verified document, which
        are the signed target's.  A mismatch is then a bundle replaced after it was signed
        (SignedMismatchError, "possible tampering"), unless the object stored under ``key``
        has the signed size and the download merely ended early: then ``error`` stands (a
        truncated transfer).  One listing request, on this failure path only.
        """
        target = self._target(key)
        signed = f"{target.length} bytes, sha256 {target.hashes.get('sha256')}"
        stored = self._stored_size(key)
        found = error.found or "other bytes"
        short = found.endswith(" bytes") and not found.startswith("more than")
        if short and stored == target.length:
            return error
        cause = (
            "possible tampering (a bundle replaced after it was signed), not a network fault: "
            "retrying will not help, investigate the index "
            "(`dioptra-plugins index check --trust ROOT.json`)"
        )
        if found.startswith("sha256") and stored is not None:
            served = f"{stored} bytes, {found}"
        elif stored is not None:
            served = f"{stored} bytes"
        else:
            served = found
            if short:  # an HTTP index cannot say how big the stored object is
                cause = (
                    "possible tampering (a bundle replaced after it was signed), or a response "
                    "cut short by a cache or proxy in between (this index cannot be listed to "
                    "tell which): investigate before retrying "
                    "(`dioptra-plugins index check --trust ROOT.json` on the bucket or directory)"
                )
        return SignedMismatchError(
            f"{self.url.rstrip('/')}/{key} does not match the signed metadata: its signed target "
            f"is {signed}, the index served {served}; {cause}",
            subject=key,
            expected=signed,
            found=served,
        )

    def _stored_size(self, key: str) -> int | None:
        """The size of the object stored under ``key`` (None: cannot be listed, or absent)."""
        try:
            return next((info.size for info in self.inner.list(key) if info.key == key), None)
        except DioptraPluginsError:
            return None  # an HTTP index cannot be listed: the download's facts stand alone

    def keep(self) -> None:
        """Write ngclient's trusted metadata back into the plugin dir (after a successful sync)."""
        if self.cache is None or self._verified is None:
            return
        try:
            self.cache.mkdir(parents=True, exist_ok=True)
            old = self._seeded  # read under the same plugin dir lock
            for relative, data in self._verified.files.items():
                if old.get(relative) != data:
                    (self.cache / relative).parent.mkdir(parents=True, exist_ok=True)
                    write_atomic(self.cache / relative, data)
            etags = json.dumps(self._verified.etags, sort_keys=True).encode()
            if old.get(_ETAGS) != etags:
                write_atomic(self.cache / _ETAGS, etags)
        except OSError as error:  # the serial in state.json still refuses a rollback
            logger.warning("cannot keep the trusted metadata in %s: %s", self.cache, error)

    # --- the Storage interface (read-only) --------------------------------------------------

    def prepare(self) -> None:
        self.inner.prepare()

    def get(self, key: str) -> StoredObject:
        verified = self.verified()
        if key == ROOT_KEY:
            return StoredObject(ROOT_KEY, verified.root_bytes, verified.etag)
        target = self._target(key)
        stored = self.inner.get(key)
        try:
            target.verify_length_and_hashes(stored.data)
        except tuf_errors.LengthOrHashMismatchError as error:
            raise TrustError(
                f"refusing {self.url}/{key}: it is not the document the signed metadata pins "
                f"({error}); a document from another snapshot, or a forgery"
            ) from None
        return stored

    def get_if_changed(self, key: str, etag: str) -> StoredObject | NotModified:
        stored = self.get(key)
        return NotModified(key, etag) if stored.etag == etag else stored

    def open(self, key: str) -> BinaryIO:
        self._target(key)
        return self.inner.open(key)

    def read_tail(self, key: str, length: int) -> bytes | WholeObject | None:
        # Unchecked like a stream from ``open``: the caller checks the whole object's hashes.
        self._target(key)
        return self.inner.read_tail(key, length)

    def put_new(self, key: str, data: bytes | BinaryIO) -> str:
        raise StorageError(f"{self.url}: a verifying reader does not write")

    def replace(self, key: str, data: bytes, if_match: str | None) -> str:
        raise StorageError(f"{self.url}: a verifying reader does not write")

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        return self.inner.list(prefix)


def _read_tree(directory: Path) -> dict[str, bytes]:
    """The regular files under ``directory`` (ngclient's root.json symlink is not one)."""
    files: dict[str, bytes] = {}
    try:
        entries = list(directory.rglob("*"))
    except OSError:
        return files
    for path in entries:
        if path.is_symlink() or not path.is_file():
            continue
        relative = path.relative_to(directory).as_posix()
        if relative in (*_KEPT, _ETAGS) or relative.startswith("root_history/"):
            files[relative] = path.read_bytes()
    return files
