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

Until step 5's rename nothing a reader sees has changed; a failure anywhere before it (an
error, a full disk, SIGINT or SIGTERM) leaves the plugin dir as it was: the store entries the
sync made are removed again, only verified downloads may stay in the cache.  Steps 5 and 6 are
one critical section (:class:`dioptra_plugins.signals.deferred`): a signal acts before the
switch or after the bookkeeping.  Only a kill (or a write of ``state.json`` that fails after
the switch, which is logged) can leave ``state.json`` behind ``current``; so ``state.json`` is a
cache that must agree with ``current`` to be used, and the highest serial accepted is also read
from the current generation's lock, which the switch made current with it.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from dioptra_plugins.errors import ObjectNotFoundError, SyncError, UsageError
from dioptra_plugins.index.url import INDEX_VARIABLE
from dioptra_plugins.plugindir.layout import PluginDirLayout, writable_plugin_dir
from dioptra_plugins.plugindir.state import (
    SyncState,
    last_sync_requirements,
    read_state,
    record_sync,
)
from dioptra_plugins.plugindir.writer_lock import writer_lock
from dioptra_plugins.signals import note_plugin_dir
from dioptra_plugins.syncing.requirements import requirements_key
from dioptra_plugins.syncing.shadowing import allowed_names

if TYPE_CHECKING:
    from dioptra_plugins.index.documents import RootDocument
    from dioptra_plugins.index.storage import Storage
    from dioptra_plugins.plugindir.pylock import Lock
    from dioptra_plugins.signing.trust import SignedStorage

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
    dry_run: bool = False
    """True when nothing was written: the changes are what a sync would make."""
    reinstalled: list[str] = field(default_factory=list)
    """Packages whose store entries ``reinstall`` replaced with freshly verified ones."""

    def to_dict(self) -> dict[str, Any]:
        """The JSON form (``upgraded`` pairs become lists)."""
        document = asdict(self)
        document["upgraded"] = {name: list(pair) for name, pair in self.upgraded.items()}
        return document


_storages: dict[tuple[str, float | None], Storage] = {}
_storages_lock = threading.Lock()


def storage_for(url: str) -> Storage:
    """One storage per index URL (and timeout) per process: a long-lived worker reuses its S3
    connections, and a caller who changes the timeout gets a storage that uses it."""
    from dioptra_plugins.index.timeouts import index_timeout

    # Only the network backends take a timeout (a local index never reads the setting).
    remote = url.startswith(("s3://", "http://", "https://"))
    key = (url, index_timeout() if remote else None)
    with _storages_lock:
        storage = _storages.get(key)
        if storage is None:
            from dioptra_plugins.index.url import open_storage

            storage = _storages[key] = open_storage(url)
        return storage


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
    requirements: Iterable[str] | None = None,
    *,
    index: str | None = None,
    plugin_dir: str | os.PathLike[str] | None = None,
    locked: str | os.PathLike[str] | None = None,
    jobs: int = 8,
    ignore_env_deps: bool = False,
    progress: Progress | None = None,
    lock_timeout: float = 60.0,
    dry_run: bool = False,
    reinstall: bool = False,
    trust: str | os.PathLike[str] | bytes | None = None,
    stored: Progress | None = None,
    allow_shadowing: Iterable[str] = (),
) -> SyncResult:
    """Sync ``plugin_dir`` to ``requirements`` (or exactly to the lock file ``locked``).

    Given neither, the requirements (and, without ``index`` or ``$DIOPTRA_PLUGINS_INDEX``,
    the index) of the dir's last successful sync are resolved again, as a bare ``uv sync``
    does: after a rollback that syncs forward to what was last asked for.

    Defaults: ``$DIOPTRA_PLUGINS_INDEX`` and ``$DIOPTRA_PLUGIN_DIR``.  Raises ResolutionError,
    EnvironmentRequirementError, IntegrityError, BundleError, SyncError, LockTimeoutError...;
    whatever it raises, the plugin dir is unchanged.

    ``dry_run`` resolves and reports what would change, and writes nothing (not even the
    caches; it takes no lock).  ``reinstall`` downloads, verifies and extracts every chosen
    bundle again, swapping each fresh store entry in for the old one atomically: the repair
    after ``verify`` found a changed store file.

    ``trust`` (default ``$DIOPTRA_PLUGINS_TRUST``) is the index's trusted TUF root metadata (a
    file, or its bytes): every root, document and bundle is then verified against the index's
    signed metadata first (``signing.trust``), and an unsigned index is refused.

    A bundle this sync would add or change whose top-level import name the environment
    already provides (the standard library, an installed distribution, ``dioptra_plugins``)
    is refused with :class:`~dioptra_plugins.errors.ShadowingError` unless that name is in
    ``allow_shadowing`` (``syncing.shadowing``).
    """
    if dry_run and reinstall:
        raise UsageError(
            "`dry_run` and `reinstall` do not go together", parameters=("dry_run", "reinstall")
        )
    layout = writable_plugin_dir(plugin_dir)
    if requirements is None and locked is None:
        requirements, last_index = last_sync_requirements(layout)
        index = index or os.environ.get(INDEX_VARIABLE) or last_index
    requirements = list(requirements or ())
    note_plugin_dir(str(layout.root), layout.current_name())  # for an interrupt's last line
    lock: Lock | None = None
    if locked is not None:
        if requirements:
            raise UsageError(
                "give `requirements` or `locked`, not both", parameters=("requirements", "locked")
            )
        from dioptra_plugins.plugindir.pylock import lock_from_toml

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
        raise UsageError(f"no index: pass `index` or set ${INDEX_VARIABLE}", parameters=("index",))
    storage = storage_for(index_url)
    signed = _verifying(storage, trust, layout)
    storage = signed or storage
    first_request = storage.requests
    request = _SyncRequest(
        layout,
        storage,
        index_url,
        key,
        requirements,
        lock,
        jobs,
        ignore_env_deps,
        progress,
        dry_run,
        reinstall,
        stored,
        allowed_names(allow_shadowing),
    )
    if dry_run:
        result = _sync_locked(request)  # reads only: no plugin dir to create, nothing to lock
        result.requests = storage.requests - first_request
        return result
    _make_plugin_dir(layout)
    with writer_lock(layout.lock_file, lock_timeout):
        try:
            result = _sync_locked(request)
            if signed is not None:
                signed.keep()  # the trusted TUF metadata, only after a sync that succeeded
        except OSError as error:
            # The file system refused a write (disk full, quota, read-only): say so plainly.
            where = f" ({error.filename})" if error.filename else ""
            raise SyncError(
                f"sync of {layout.root} failed: {error.strerror or error}{where}; importers still "
                "see one complete generation"
            ) from error
    result.requests = storage.requests - first_request
    return result


def _verifying(
    storage: Storage, trust: str | os.PathLike[str] | bytes | None, layout: PluginDirLayout
) -> SignedStorage | None:
    """The storage that verifies against the index's TUF metadata, when trust is configured."""
    from dioptra_plugins.signing import TRUST_VARIABLE

    chosen = trust if trust is not None else os.environ.get(TRUST_VARIABLE) or None
    if chosen is None:
        return None
    from dioptra_plugins.signing.trust import SignedStorage

    return SignedStorage.wrap(storage, chosen, layout)


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
    dry_run: bool = False
    reinstall: bool = False
    stored: Progress | None = None
    """Told (packages done, packages total) as bundles are verified and stored."""
    allow_shadowing: frozenset[str] = frozenset()
    """Top-level names a bundle may take although the environment provides them."""


def _sync_locked(request: _SyncRequest) -> SyncResult:
    from dioptra_plugins.index.storage import NotModified

    state = read_state(request.layout.state_file)
    current = request.layout.current_name()
    if not request.dry_run:
        from dioptra_plugins.plugindir.generations import remove_dangling_entry_links

        # What interrupted writers left (a few scandirs): cleared under the lock, first.
        request.layout.remove_leftovers()
        remove_dangling_entry_links(request.layout)
    known = state.indexes.get(request.index_url)
    may_be_noop = (
        not request.reinstall
        and known is not None
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
            dry_run=request.dry_run,
        )
    return _full_sync(request, state, current, fetched.data, fetched.etag)


def _full_sync(
    request: _SyncRequest,
    state: SyncState,
    current: str | None,
    root_bytes: bytes,
    root_etag: str,
) -> SyncResult:
    from dioptra_plugins.plugindir.generations import read_generation_lock
    from dioptra_plugins.plugindir.pylock import Lock
    from dioptra_plugins.syncing.changes import plan_changes
    from dioptra_plugins.syncing.choose import choose_packages
    from dioptra_plugins.syncing.index_view import IndexView
    from dioptra_plugins.syncing.install import install_generation
    from dioptra_plugins.syncing.shadowing import check_shadowing

    layout = request.layout
    current_lock = read_generation_lock(layout, current) if current else None
    root = _accepted_root(request, state, root_bytes, current_lock)
    view = IndexView(request.storage, root, layout.documents)
    packages = choose_packages(
        view,
        request.requirements,
        request.lock,
        jobs=request.jobs,
        ignore_env_deps=request.ignore_env_deps,
    )
    old = current_lock.packages if current_lock else ()
    changes = plan_changes(old, packages)
    check_shadowing(layout, packages, changes, request.allow_shadowing)
    result = SyncResult(
        plugin_dir=str(layout.root),
        index=request.index_url,
        generation=current,
        installed=changes.installed,
        upgraded=changes.upgraded,
        removed=changes.removed,
        unchanged=changes.unchanged,
        dry_run=request.dry_run,
    )
    if request.dry_run:
        return result
    if request.reinstall:
        from dioptra_plugins.syncing.install import reinstall_packages

        result.reinstalled = reinstall_packages(
            layout, request.storage, packages, jobs=request.jobs, progress=request.progress
        )

    def bookkeeping(generation: str | None) -> None:
        # Only a sync that succeeded leaves anything behind: documents, root copy, state.
        view.keep_fetched()
        record_sync(
            layout,
            state,
            index_url=request.index_url,
            requirements_key=request.key,
            packages={p.name: p.version for p in packages},
            generation=generation,
            root_bytes=root_bytes,
            root_etag=root_etag,
            serial=root.serial,
        )

    def after_switch(generation: str) -> None:
        try:
            bookkeeping(generation)
        except OSError as error:
            # The switch is done and stays: saying the sync failed would be untrue.  The next
            # sync sees state.json disagree with current and checks everything again.
            logger.warning(
                "generation %s is current, but recording the sync failed: %s", generation, error
            )

    if current is None or changes.any:
        lock = Lock(
            packages=tuple(packages),
            index=request.index_url,
            index_serial=root.serial,
            requirements=tuple(request.requirements)
            if request.lock is None
            else request.lock.requirements,
        )
        result.generation, result.downloaded = install_generation(
            layout,
            request.storage,
            lock,
            jobs=request.jobs,
            progress=request.progress,
            stored=request.stored,
            switched=after_switch,
        )
        result.switched = True
    else:
        bookkeeping(result.generation)
    return result


def _accepted_root(
    request: _SyncRequest, state: SyncState, root_bytes: bytes, current: Lock | None
) -> RootDocument:
    """The fetched root, parsed; refused when its serial went backwards.

    The serial accepted before is the higher of ``state.json``'s and the current generation's
    (a sync killed between its switch and ``state.json`` recorded only the latter).  Without a
    ``state.json`` (deleted to accept a rolled-back index on purpose) anything is accepted."""
    from dioptra_plugins.index.documents import RootDocument

    root = RootDocument.from_bytes(root_bytes, what=f"{request.index_url}/{ROOT_KEY}")
    known = state.indexes.get(request.index_url)
    if known is None:
        return root
    accepted = known.serial
    if current is not None and current.index == request.index_url:
        accepted = max(accepted, current.index_serial or 0)
    if root.serial < accepted:
        raise SyncError(
            f"refusing the index at {request.index_url}: its serial {root.serial} is lower than "
            f"serial {accepted} accepted before, so the index was rolled back or replaced; "
            f"if that was intended, delete {request.layout.state_file}"
        )
    return root
