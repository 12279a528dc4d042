"""What the plugin dir holds now: the current generation's bundles, and the serial accepted.

A changed sync compares the set it chose with the current generation's (:mod:`.changes`) and
the root's serial with the highest one accepted before (:func:`accepted_root`).  The current
generation's lock says both, but parsing it costs about 0.1 ms a bundle (45 ms at 400 bundles,
whatever the change).  ``state.json`` records the same bundles (name, version, sha256) with
the sha256 of the lock they were read from; while the current lock's bytes have that sha256 the
record is used and the lock is not parsed.  Anything else (a rollback, a sync killed between
its switch and ``state.json``, a ``state.json`` from an older version) parses the lock.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from dioptra_plugins.errors import SyncError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.keys import ROOT_KEY
from dioptra_plugins.plugindir.layout import LOCK_FILENAME, PluginDirLayout
from dioptra_plugins.plugindir.state import LockRecord, SyncState

if TYPE_CHECKING:
    from dioptra_plugins.index.documents import RootDocument


@dataclass(frozen=True)
class Installed:
    """The current generation's bundles: name -> (version, sha256), and its lock's record."""

    bundles: dict[str, tuple[str, str]]
    lock: LockRecord


def installed(layout: PluginDirLayout, state: SyncState, current: str | None) -> Installed | None:
    """The bundles of generation ``current`` (None: there is none yet)."""
    from dioptra_plugins.plugindir.generations import read_generation_lock
    from dioptra_plugins.plugindir.pylock import lock_from_toml

    if current is None:
        return None
    path = layout.generation_path(current) / LOCK_FILENAME
    try:
        data = path.read_bytes()
    except OSError:
        read_generation_lock(layout, current)  # raises the error that says which generation
        raise
    digest = sha256_hex(data)
    if (
        state.generation == current
        and state.lock_sha256 == digest
        and state.bundles.keys() == state.packages.keys()
    ):
        # state.json was written after this very lock was made current, and says what it holds.
        bundles = {name: (state.packages[name], state.bundles[name]) for name in state.packages}
        record = LockRecord(digest, state.bundles, state.lock_index, state.lock_index_serial)
        return Installed(bundles, record)
    lock = lock_from_toml(data, str(path))
    bundles = {p.name: (p.version, p.sha256) for p in lock.packages}
    sha256s = {p.name: p.sha256 for p in lock.packages}
    return Installed(bundles, LockRecord(digest, sha256s, lock.index, lock.index_serial))


def lock_digest(layout: PluginDirLayout, generation: str) -> str | None:
    """The sha256 of generation ``generation``'s lock, None when it cannot be read."""
    try:
        return sha256_hex((layout.generation_path(generation) / LOCK_FILENAME).read_bytes())
    except OSError:
        return None


def accepted_root(
    index_url: str,
    layout: PluginDirLayout,
    state: SyncState,
    root_bytes: bytes,
    current: Installed | None,
) -> RootDocument:
    """The fetched root, parsed; refused when its serial went backwards.

    The serial accepted before is the higher of ``state.json``'s and the current generation's
    (a sync killed between its switch and ``state.json`` recorded only the latter).  Without a
    ``state.json`` (deleted to accept a rolled-back index on purpose) anything is accepted."""
    from dioptra_plugins.index.documents import RootDocument

    root = RootDocument.from_bytes(root_bytes, what=f"{index_url}/{ROOT_KEY}")
    known = state.indexes.get(index_url)
    if known is None:
        return root
    accepted = known.serial
    if current is not None and current.lock.index == index_url:
        accepted = max(accepted, current.lock.index_serial or 0)
    if root.serial < accepted:
        raise SyncError(
            f"refusing the index at {index_url}: its serial {root.serial} is lower than "
            f"serial {accepted} accepted before, so the index was rolled back or replaced; "
            f"if that was intended, delete {layout.state_file}"
        )
    return root
