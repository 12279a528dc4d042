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

import logging
import os
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import TYPE_CHECKING, Any

from dioptra_plugins.errors import ObjectNotFoundError, SyncError, UsageError
from dioptra_plugins.index.connections import IndexConnections, shared_connections
from dioptra_plugins.index.defaults import default_index, required_index
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.plugindir.layout import PluginDirLayout, writable_plugin_dir
from dioptra_plugins.plugindir.state import (
    LockRecord,
    SyncState,
    last_sync_requirements,
    read_state,
    record_sync,
)
from dioptra_plugins.plugindir.writer_lock import writer_lock
from dioptra_plugins.signals import note_plugin_dir
from dioptra_plugins.syncing.requirements import Requested, requested
from dioptra_plugins.syncing.shadowing import allowed_names

if TYPE_CHECKING:
    from dioptra_plugins.index.documents import ProjectDocument, RootDocument
    from dioptra_plugins.index.storage import Storage
    from dioptra_plugins.plugindir.pylock import LockedPackage
    from dioptra_plugins.signing.trust import SignedStorage
    from dioptra_plugins.syncing.changes import Changes
    from dioptra_plugins.syncing.index_view import IndexView
    from dioptra_plugins.syncing.installed import Installed

logger = logging.getLogger(__name__)

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
    timeout: float | None = None,
    connections: IndexConnections | None = None,
) -> SyncResult:
    """Sync ``plugin_dir`` to ``requirements`` (or exactly to the lock file ``locked``).

    Given neither, the requirements (and, without ``index``, the index) of the dir's last
    successful sync are resolved again, as a bare ``uv sync`` does: after a rollback that syncs
    forward to what was last asked for.  ``index`` and ``plugin_dir`` default to
    ``$DIOPTRA_PLUGINS_INDEX`` and ``$DIOPTRA_PLUGIN_DIR``.  Raises ResolutionError,
    EnvironmentRequirementError, IntegrityError, BundleError, SyncError, LockTimeoutError...;
    whatever it raises, the plugin dir is unchanged.

    ``dry_run`` reports what would change and writes nothing (not even the caches; no lock).
    ``reinstall`` downloads, verifies and extracts every chosen bundle again, each fresh store
    entry swapped in for the old one atomically: the repair after ``verify`` found a changed
    store file.  ``trust`` (default ``$DIOPTRA_PLUGINS_TRUST``) is the index's trusted TUF root
    metadata (a file, or its bytes): everything read is verified against the index's signed
    metadata first (``signing.trust``), and an unsigned index is refused.  A bundle this sync
    would add or change whose top-level import name the environment already provides is a
    :class:`~dioptra_plugins.errors.ShadowingError` unless ``allow_shadowing`` names it.

    ``timeout``: seconds an S3 or HTTP index may take per attempt (default
    ``$DIOPTRA_PLUGINS_TIMEOUT``, else 10).  ``connections`` (default: the process's own) holds
    the storage and the documents read: a worker keeping one reuses them from sync to sync.
    """
    if dry_run and reinstall:
        raise UsageError(
            "`dry_run` and `reinstall` do not go together", parameters=("dry_run", "reinstall")
        )
    layout = writable_plugin_dir(plugin_dir)
    note_plugin_dir(str(layout.root), layout.current_name())  # for an interrupt's last line
    wanted, index_url = _requested_and_where(layout, requirements, locked, index)
    if connections is None:
        connections = shared_connections()
    opened = connections.open(index_url, timeout=timeout)
    signed = _verifying(opened, trust, layout)
    storage = signed or opened
    first_request = storage.requests
    options = _Options(jobs, ignore_env_deps, progress, dry_run, reinstall, stored)
    known = connections.documents(f"{index_url} signed" if signed else index_url)  # apart
    shadowing = allowed_names(allow_shadowing)
    request = _SyncRequest(layout, storage, index_url, wanted, options, shadowing, known)
    result = _sync_dir(request, signed, lock_timeout)
    result.requests = storage.requests - first_request
    return result


def _requested_and_where(
    layout: PluginDirLayout,
    requirements: Iterable[str] | None,
    locked: str | os.PathLike[str] | None,
    index: str | None,
) -> tuple[Requested, str]:
    """What to install and from which index: as given, else the lock's index, else (given
    neither requirements nor a lock) what the dir's last successful sync was asked for."""
    last_index = None
    if requirements is None and locked is None:
        requirements, last_index = last_sync_requirements(layout)
    wanted = requested(list(requirements or ()), locked)
    index_url = required_index(
        default_index(index) or last_index or (wanted.lock.index if wanted.lock else None)
    )
    return wanted, index_url


def _sync_dir(
    request: _SyncRequest, signed: SignedStorage | None, lock_timeout: float
) -> SyncResult:
    """The sync itself: read only for a dry run, else under the writer lock."""
    layout = request.layout
    if request.options.dry_run:
        return _sync_locked(request)  # reads only: no plugin dir to create, nothing to lock
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
    wanted: Requested
    options: _Options
    allow_shadowing: frozenset[str] = frozenset()
    """Top-level names a bundle may take although the environment provides them."""
    known: dict[str, ProjectDocument] | None = None
    """Project documents this process read from the index before, by sha256."""


@dataclass(frozen=True)
class _Options:
    """How a sync does its work (``sync()``'s parameters of the same names)."""

    jobs: int
    ignore_env_deps: bool
    progress: Progress | None
    dry_run: bool = False
    reinstall: bool = False
    stored: Progress | None = None
    """Told (packages done, packages total) as bundles are verified and stored."""


def _sync_locked(request: _SyncRequest) -> SyncResult:
    from dioptra_plugins.index.storage import NotModified

    state = read_state(request.layout.state_file)
    current = request.layout.current_name()
    if not request.options.dry_run:
        from dioptra_plugins.plugindir.generations import remove_dangling_entry_links

        # What interrupted writers left (a few scandirs): cleared under the lock, first.
        request.layout.remove_leftovers()
        remove_dangling_entry_links(request.layout)
    known = state.indexes.get(request.index_url)
    may_be_noop = (
        not request.options.reinstall
        and known is not None
        and current is not None
        and state.index == request.index_url
        and state.requirements == request.wanted.key
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
            dry_run=request.options.dry_run,
        )
    return _full_sync(request, state, current, fetched.data, fetched.etag)


def _full_sync(
    request: _SyncRequest,
    state: SyncState,
    current: str | None,
    root_bytes: bytes,
    root_etag: str,
) -> SyncResult:
    from dioptra_plugins.hashing import sha256_hex
    from dioptra_plugins.syncing.installed import accepted_root, installed

    layout = request.layout
    now = installed(layout, state, current)
    root = accepted_root(request.index_url, layout, state, root_bytes, now)
    plan = _plan(request, root, now, sha256_hex(root_bytes))
    result = SyncResult(
        plugin_dir=str(layout.root),
        index=request.index_url,
        generation=current,
        installed=plan.changes.installed,
        upgraded=plan.changes.upgraded,
        removed=plan.changes.removed,
        unchanged=plan.changes.unchanged,
        dry_run=request.options.dry_run,
    )
    if request.options.dry_run:
        return result
    if request.options.reinstall:
        from dioptra_plugins.syncing.install import reinstall_packages

        result.reinstalled = reinstall_packages(
            layout,
            request.storage,
            plan.packages,
            jobs=request.options.jobs,
            progress=request.options.progress,
        )
    record = _Bookkeeping(request, state, plan, root_bytes, root_etag)
    if current is None or plan.changes.any:
        result.generation, result.downloaded = _install(request, plan, record.after_switch)
        result.switched = True
    else:
        record(result.generation, now.lock if now is not None else None)
    return result


@dataclass(frozen=True)
class _Plan:
    """What a sync will install, read from the accepted root, and how that changes the dir."""

    root: RootDocument
    view: IndexView
    packages: list[LockedPackage]
    changes: Changes


def _plan(
    request: _SyncRequest, root: RootDocument, now: Installed | None, root_sha256: str
) -> _Plan:
    """Choose the packages (resolved or locked), compare them with the current generation's,
    and refuse a bundle that would shadow what the environment provides.  ``root_sha256``: of
    the root's bytes, naming its document pack."""
    from dioptra_plugins.syncing.changes import plan_changes
    from dioptra_plugins.syncing.choose import choose_packages
    from dioptra_plugins.syncing.index_view import IndexView
    from dioptra_plugins.syncing.shadowing import check_shadowing

    layout = request.layout
    view = IndexView(request.storage, root, layout.documents, request.known, root_sha256)
    packages = choose_packages(
        view,
        request.wanted.requirements,
        request.wanted.lock,
        jobs=request.options.jobs,
        ignore_env_deps=request.options.ignore_env_deps,
    )
    changes = plan_changes(now.bundles if now else {}, packages)
    check_shadowing(layout, packages, changes, request.allow_shadowing)
    return _Plan(root, view, packages, changes)


def _install(
    request: _SyncRequest, plan: _Plan, switched: Callable[[str], None]
) -> tuple[str, int]:
    """Store what is missing, build the next generation and switch to it; ``switched`` runs
    right after the switch.  Returns the generation's name and the bundles downloaded."""
    from dioptra_plugins.plugindir.pylock import Lock
    from dioptra_plugins.syncing.install import install_generation

    wanted = request.wanted
    lock = Lock(
        packages=tuple(plan.packages),
        index=request.index_url,
        index_serial=plan.root.serial,
        requirements=tuple(wanted.requirements)
        if wanted.lock is None
        else wanted.lock.requirements,
    )
    return install_generation(
        request.layout,
        request.storage,
        lock,
        jobs=request.options.jobs,
        progress=request.options.progress,
        stored=request.options.stored,
        switched=switched,
    )


@dataclass(frozen=True)
class _Bookkeeping:
    """What a sync that succeeded leaves behind: project documents, the root's copy, state."""

    request: _SyncRequest
    state: SyncState
    plan: _Plan
    root_bytes: bytes
    root_etag: str

    def __call__(self, generation: str | None, lock: LockRecord | None) -> None:
        """Record a sync that left ``generation`` current, whose lock ``lock`` describes."""
        self.plan.view.keep_fetched()
        record_sync(
            self.request.layout,
            self.state,
            index_url=self.request.index_url,
            requirements_key=self.request.wanted.key,
            packages={p.name: p.version for p in self.plan.packages},
            generation=generation,
            lock=lock,
            root_bytes=self.root_bytes,
            root_etag=self.root_etag,
            serial=self.plan.root.serial,
        )

    def after_switch(self, generation: str) -> None:
        from dioptra_plugins.syncing.installed import lock_digest

        try:
            digest = lock_digest(self.request.layout, generation)
            bundles = {p.name: p.sha256 for p in self.plan.packages}
            lock = None
            if digest is not None:
                lock = LockRecord(digest, bundles, self.request.index_url, self.plan.root.serial)
            self(generation, lock)
        except OSError as error:
            # The switch is done and stays: saying the sync failed would be untrue.  The next
            # sync sees state.json disagree with current and checks everything again.
            logger.warning(
                "generation %s is current, but recording the sync failed: %s", generation, error
            )
