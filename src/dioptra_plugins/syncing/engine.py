"""``sync()``: bring a plugin dir to the bundles the requirements resolve to, atomically.

The whole sync runs under the plugin dir lock.  Its steps, in order:

1. conditional GET of the root with the stored ETag; "not modified" with the same requirements
   and the same current generation ends the sync (one request, nothing heavy imported);
2. refuse a root whose serial is lower than one accepted before;
3. resolve (or take the ``--locked`` set and check the index still has it), check the
   environment's requirements;
4. download, verify and extract into the store whatever is missing;
5. build the next generation and switch ``current`` to it in one rename;
6. record the root's ETag and serial in ``state.json``.

Until step 5's rename nothing a reader sees has changed; a failure anywhere before it leaves
the plugin dir as it was (the download cache and store may hold new verified entries, which
are invisible and reused).
"""

from __future__ import annotations

import hashlib
import logging
import os
import secrets
import shutil
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dioptra_plugins.errors import ObjectNotFoundError, SyncError, UsageError
from dioptra_plugins.index.url import INDEX_VARIABLE
from dioptra_plugins.plugindir.layout import PluginDirLayout, writable_plugin_dir
from dioptra_plugins.syncing.generations import current_generation_name
from dioptra_plugins.syncing.requirements import requirements_key
from dioptra_plugins.syncing.state import IndexState, SyncState, read_state, write_state
from dioptra_plugins.syncing.writer_lock import writer_lock

if TYPE_CHECKING:
    from dioptra_plugins.index.documents import RootDocument
    from dioptra_plugins.index.storage import Storage
    from dioptra_plugins.syncing.pylock import Lock, LockedPackage

logger = logging.getLogger(__name__)

ROOT_KEY = "index.json"

Progress = Callable[[int, int], None]


@dataclass
class SyncResult:
    """What a sync did.  Package maps are ``name -> version``; ``upgraded`` maps to (old, new)."""

    plugin_dir: str
    index: str
    generation: str | None
    installed: dict[str, str] = field(default_factory=dict)
    upgraded: dict[str, tuple[str, str]] = field(default_factory=dict)
    removed: dict[str, str] = field(default_factory=dict)
    unchanged: dict[str, str] = field(default_factory=dict)
    requests: int = 0
    """Requests made to the index (HTTP requests on S3, retries included)."""
    not_modified: bool = False
    """True when the root was not modified and nothing had to be done."""
    switched: bool = False
    """True when a new generation became current."""
    downloaded: int = 0
    """Bundles downloaded (the rest came from the store or the download cache)."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``upgraded`` pairs become lists)."""
        document = asdict(self)
        document["upgraded"] = {name: list(pair) for name, pair in self.upgraded.items()}
        return document


_storages: dict[str, Storage] = {}
_storages_lock = threading.Lock()


def storage_for(url: str) -> Storage:
    """One storage per index URL per process: a long-lived worker reuses its S3 connections."""
    with _storages_lock:
        storage = _storages.get(url)
        if storage is None:
            from dioptra_plugins.index.url import open_storage

            storage = _storages[url] = open_storage(url)
        return storage


def _requests(storage: Storage) -> int:
    return int(getattr(storage, "requests", 0))


def _make_plugin_dir(layout: PluginDirLayout) -> None:
    """Create the plugin dir if needed; refuse, with the reason, one sync cannot write."""
    from dioptra_plugins.errors import PluginDirError

    try:
        layout.root.mkdir(parents=True, exist_ok=True)
    except FileExistsError:
        raise PluginDirError(f"plugin dir {layout.root} is a file, not a directory") from None
    except OSError as error:
        raise PluginDirError(
            f"cannot create plugin dir {layout.root}: {error.strerror or error}"
        ) from error


def sync(
    requirements: Iterable[str] = (),
    *,
    index: str | None = None,
    plugin_dir: str | os.PathLike[str] | None = None,
    locked: str | os.PathLike[str] | None = None,
    jobs: int = 8,
    ignore_env_deps: bool = False,
    progress: Progress | None = None,
    lock_timeout: float = 60.0,
) -> SyncResult:
    """Sync ``plugin_dir`` to ``requirements`` (or exactly to the lock file ``locked``).

    Defaults: ``$DIOPTRA_PLUGINS_INDEX`` and ``$DIOPTRA_PLUGIN_DIR``.  Raises ResolutionError,
    EnvironmentRequirementError, IntegrityError, BundleError, SyncError, LockTimeoutError...;
    whatever it raises, the plugin dir is unchanged.
    """
    requirements = list(requirements)
    layout = writable_plugin_dir(plugin_dir)
    lock: Lock | None = None
    if locked is not None:
        if requirements:
            raise UsageError("give requirements or --locked, not both")
        from dioptra_plugins.syncing.pylock import lock_from_toml

        try:
            lock_bytes = Path(locked).read_bytes()
        except FileNotFoundError:
            raise UsageError(f"lock file {locked} does not exist") from None
        except OSError as error:
            raise UsageError(f"cannot read lock file {locked}: {error.strerror}") from error
        lock = lock_from_toml(lock_bytes, os.fspath(locked))
        key = "locked:" + hashlib.sha256(lock_bytes).hexdigest()
    else:
        key = requirements_key(requirements)
    index_url = index or os.environ.get(INDEX_VARIABLE) or (lock.index if lock else None)
    if not index_url:
        raise UsageError(f"no index: pass --index or set ${INDEX_VARIABLE}")
    storage = storage_for(index_url)
    first_request = _requests(storage)
    _make_plugin_dir(layout)
    with writer_lock(layout.lock_file, lock_timeout):
        try:
            result = _sync_locked(
                _SyncRequest(
                    layout,
                    storage,
                    index_url,
                    key,
                    requirements,
                    lock,
                    jobs,
                    ignore_env_deps,
                    progress,
                )
            )
        except OSError as error:
            # The file system refused a write (disk full, quota, read-only): say so plainly.
            where = f" ({error.filename})" if error.filename else ""
            raise SyncError(
                f"sync of {layout.root} failed: {error.strerror or error}{where}; importers still "
                "see one complete generation"
            ) from error
    result.requests = _requests(storage) - first_request
    return result


@dataclass(frozen=True)
class _SyncRequest:
    """What one sync was asked for, resolved from arguments and environment."""

    layout: PluginDirLayout
    storage: Storage
    index_url: str
    key: str
    """Identifies the requirements (or lock file) so a repeated sync can be a no-op."""
    requirements: list[str]
    lock: Lock | None
    jobs: int
    ignore_env_deps: bool
    progress: Progress | None


def _sync_locked(request: _SyncRequest) -> SyncResult:
    from dioptra_plugins.index.storage import NotModified

    state = read_state(request.layout.state_file)
    current = current_generation_name(request.layout)
    known = state.indexes.get(request.index_url)
    may_be_noop = (
        known is not None
        and current is not None
        and state.index == request.index_url
        and state.requirements == request.key
        and state.generation == current
    )
    try:
        fetched = (
            request.storage.get_if_changed(ROOT_KEY, known.etag)
            if may_be_noop and known is not None
            else request.storage.get(ROOT_KEY)
        )
    except ObjectNotFoundError as error:
        raise SyncError(f"no index at {request.index_url}: {ROOT_KEY} does not exist") from error
    if isinstance(fetched, NotModified):
        return SyncResult(
            plugin_dir=str(request.layout.root),
            index=request.index_url,
            generation=current,
            unchanged=dict(state.packages),
            not_modified=True,
        )
    return _full_sync(request, state, fetched.data, fetched.etag)


def _full_sync(
    request: _SyncRequest, state: SyncState, root_bytes: bytes, root_etag: str
) -> SyncResult:
    from dioptra_plugins.syncing.changes import plan_changes
    from dioptra_plugins.syncing.generations import read_generation_lock
    from dioptra_plugins.syncing.index_view import IndexView

    root = _accepted_root(request, state, root_bytes)
    request.layout.remove_leftovers()
    view = IndexView(request.storage, root, request.layout.documents)
    if request.lock is None:
        packages = _resolve_packages(
            view, request.requirements, request.jobs, request.ignore_env_deps
        )
    else:
        packages = _locked_packages(view, request.lock, request.ignore_env_deps)
    for package in packages:
        check_package_names(package)

    current = current_generation_name(request.layout)
    old = read_generation_lock(request.layout, current).packages if current else ()
    changes = plan_changes(old, packages)
    result = SyncResult(
        plugin_dir=str(request.layout.root),
        index=request.index_url,
        generation=current,
        installed=changes.installed,
        upgraded=changes.upgraded,
        removed=changes.removed,
        unchanged=changes.unchanged,
    )
    if current is None or changes.any:
        result.generation, result.downloaded = _install_generation(request, packages, root.serial)
        result.switched = True
    # Only a sync that succeeded leaves anything behind in the caches.
    view.keep_fetched()
    save_root_copy(request.layout, root_bytes)
    _record(request, state, packages, root_etag, root.serial, result.generation)
    return result


def _accepted_root(request: _SyncRequest, state: SyncState, root_bytes: bytes) -> RootDocument:
    """The fetched root, parsed; refused when its serial went backwards."""
    from dioptra_plugins.index.documents import RootDocument

    root = RootDocument.from_bytes(root_bytes, what=f"{request.index_url}/{ROOT_KEY}")
    known = state.indexes.get(request.index_url)
    if known is not None and root.serial < known.serial:
        raise SyncError(
            f"refusing the index at {request.index_url}: its serial {root.serial} is lower than "
            f"serial {known.serial} accepted before, so the index was rolled back or replaced; "
            f"if that was intended, delete {request.layout.state_file}"
        )
    return root


def _install_generation(
    request: _SyncRequest, packages: list[LockedPackage], serial: int
) -> tuple[str, int]:
    """Store what is missing, build the next generation and switch to it: (name, downloads)."""
    from dioptra_plugins.syncing.download import fetch_bundles
    from dioptra_plugins.syncing.generations import build_generation, check_entry_names, switch_to
    from dioptra_plugins.syncing.pylock import Lock
    from dioptra_plugins.syncing.store import add_to_store

    layout = request.layout
    check_entry_names(layout, (p.top_level for p in packages))
    downloaded = fetch_bundles(
        request.storage,
        layout,
        packages,
        lambda package, path: add_to_store(layout, path, package),
        jobs=request.jobs,
        progress=request.progress,
    )
    requirements = (
        tuple(request.requirements) if request.lock is None else request.lock.requirements
    )
    name = build_generation(
        layout,
        Lock(
            packages=tuple(packages),
            index=request.index_url,
            index_serial=serial,
            requirements=requirements,
        ),
    )
    try:
        switch_to(layout, name)
    except BaseException:
        if current_generation_name(layout) != name:
            shutil.rmtree(layout.generation_path(name), ignore_errors=True)
        raise
    return name, downloaded


def _record(
    request: _SyncRequest,
    state: SyncState,
    packages: list[LockedPackage],
    root_etag: str,
    serial: int,
    generation: str | None,
) -> None:
    """Write what this sync saw, so that the next one with nothing to do is one request."""
    from dioptra_plugins.fsutil import write_atomic

    layout = request.layout
    # Made here, so that a process pinning a generation creates nothing in the plugin dir.
    layout.pins.mkdir(exist_ok=True)
    if not layout.identity_file.is_file():
        write_atomic(layout.identity_file, secrets.token_hex(16).encode() + b"\n")
    state.indexes[request.index_url] = IndexState(etag=root_etag, serial=serial)
    state.index = request.index_url
    state.requirements = request.key
    state.generation = generation
    state.packages = {p.name: p.version for p in packages}
    write_state(layout.state_file, state)


def save_root_copy(layout: PluginDirLayout, root_bytes: bytes) -> None:
    """Keep the accepted root beside the cached documents: gc collects what it no longer names."""
    from dioptra_plugins.fsutil import write_atomic
    from dioptra_plugins.plugindir.layout import ROOT_COPY

    try:
        layout.documents.mkdir(parents=True, exist_ok=True)
        write_atomic(layout.documents / ROOT_COPY, root_bytes)
    except OSError as error:  # only a cache: a sync must not fail for it
        logger.warning("cannot keep a copy of the index root: %s", error)


def check_package_names(package: LockedPackage) -> None:
    """Refuse names that would become paths outside the plugin dir (a hostile index or lock)."""
    from dioptra_plugins.errors import IndexFormatError
    from dioptra_plugins.index.keys import is_normalized_name, is_sha256

    problems = []
    if not is_normalized_name(package.name):
        problems.append(f"project name {package.name!r}")
    if not is_sha256(package.sha256):
        problems.append(f"sha256 {package.sha256!r}")
    if "/" in package.filename or "\\" in package.filename or not package.filename.endswith(".whl"):
        problems.append(f"filename {package.filename!r}")
    if not package.top_level.isidentifier():
        problems.append(f"import package {package.top_level!r}")
    if problems:
        raise IndexFormatError(f"refusing {package.filename!r}: invalid " + ", ".join(problems))


def _resolve_packages(
    view: Any, requirements: list[str], jobs: int, ignore_env_deps: bool
) -> list[LockedPackage]:
    from dioptra_plugins.index.keys import bundle_key
    from dioptra_plugins.syncing.pylock import LockedPackage, bundle_url
    from dioptra_plugins.syncing.requirements import parse_requirements
    from dioptra_plugins.syncing.resolve import check_environment, resolve

    chosen = resolve(view, parse_requirements(requirements), jobs)
    check_environment(view, chosen, ignore=ignore_env_deps)
    return [
        LockedPackage(
            name=c.name,
            version=c.file.version,
            filename=c.file.filename,
            sha256=c.file.sha256,
            size=c.file.size,
            top_level=c.file.top_level,
            index=view.url,
            url=bundle_url(view.url, bundle_key(c.name, c.file.filename)),
        )
        for c in chosen
    ]


def _locked_packages(view: Any, lock: Lock, ignore_env_deps: bool) -> list[LockedPackage]:
    """The lock's packages, after checking that the index still has each exact file."""
    from dataclasses import replace

    from packaging.version import Version

    from dioptra_plugins.syncing.resolve import Candidate, check_environment

    problems = []
    candidates = []
    for package in lock.packages:
        if not view.has_project(package.name):
            problems.append(f"{package.name}: no longer in the index")
            continue
        files = {f.filename: f for f in view.project(package.name).files}
        file = files.get(package.filename)
        if file is None:
            problems.append(f"{package.filename}: no longer in the index")
        elif file.sha256 != package.sha256 or file.size != package.size:
            problems.append(
                f"{package.filename}: the index now lists sha256 {file.sha256} ({file.size} "
                f"bytes), the lock {package.sha256} ({package.size} bytes)"
            )
        elif file.top_level != package.top_level:
            problems.append(
                f"{package.filename}: the lock names import package {package.top_level!r}, "
                f"the index {file.top_level!r}"
            )
        else:
            candidates.append(Candidate(package.name, Version(file.version), file))
    if problems:
        raise SyncError(
            f"cannot reproduce the lock from {view.url}:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    check_environment(view, candidates, ignore=ignore_env_deps)
    return [replace(p, index=view.url) for p in lock.packages]
