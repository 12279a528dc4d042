"""``state.json``: what the last successful sync saw, so the next one can stop after one request.

Per index URL it records the root's ETag and the highest ``serial`` ever accepted (a root with a
lower serial means the index was rolled back or replaced, and is refused).  It also records the
requirements and the generation of the last sync: a sync whose requirements are the same, whose
generation is still current and whose root is not modified has nothing to do.  The file is
replaced atomically; it is only ever written while holding the plugin dir lock.
"""

from __future__ import annotations

import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from dioptra_plugins.fsutil import write_atomic
from dioptra_plugins.plugindir.layout import ROOT_COPY, PluginDirLayout

logger = logging.getLogger(__name__)

STATE_FORMAT = 1
T = TypeVar("T")


@dataclass
class IndexState:
    """The last root accepted from one index URL."""

    etag: str
    serial: int


@dataclass
class SyncState:
    indexes: dict[str, IndexState] = field(default_factory=dict)
    index: str | None = None
    """Index URL of the last completed sync."""
    requirements: str | None = None
    """Signature of the last completed sync's requirements (see engine.requirements_key)."""
    generation: str | None = None
    """Generation the last completed sync left current."""
    packages: dict[str, str] = field(default_factory=dict)
    """Its packages, name -> version (reported as unchanged by a no-op sync)."""
    bundles: dict[str, str] = field(default_factory=dict)
    """Its packages' bundles, name -> sha256."""
    lock_sha256: str | None = None
    """The sha256 of that generation's ``pylock.toml``: while the current one has it, the next
    sync takes ``packages``, ``bundles`` and the two below from here instead of parsing it."""
    lock_index: str | None = None
    """The index that generation's lock names, and the serial of its root then."""
    lock_index_serial: int | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "format": STATE_FORMAT,
            "indexes": {
                url: {"etag": entry.etag, "serial": entry.serial}
                for url, entry in sorted(self.indexes.items())
            },
            "last_sync": {
                "index": self.index,
                "requirements": self.requirements,
                "generation": self.generation,
                "packages": dict(sorted(self.packages.items())),
                "bundles": dict(sorted(self.bundles.items())),
                "lock_sha256": self.lock_sha256,
                "lock_index": self.lock_index,
                "lock_index_serial": self.lock_index_serial,
            },
        }


def read_state(path: Path) -> SyncState:
    """The recorded state, or an empty one when the file is missing or unreadable."""
    try:
        data = json.loads(path.read_bytes())
    except FileNotFoundError:
        return SyncState()
    except (OSError, ValueError) as error:
        logger.warning("ignoring unreadable %s: %s", path, error)
        return SyncState()
    try:
        if data.get("format") != STATE_FORMAT:
            raise ValueError(f"unknown format {data.get('format')!r}")
        indexes = {
            str(url): IndexState(etag=str(entry["etag"]), serial=int(entry["serial"]))
            for url, entry in data.get("indexes", {}).items()
        }
        last = data.get("last_sync") or {}
        return SyncState(
            indexes=indexes,
            index=last.get("index"),
            requirements=last.get("requirements"),
            generation=last.get("generation"),
            packages={str(k): str(v) for k, v in (last.get("packages") or {}).items()},
            bundles={str(k): str(v) for k, v in (last.get("bundles") or {}).items()},
            lock_sha256=_optional(last.get("lock_sha256"), str),
            lock_index=_optional(last.get("lock_index"), str),
            lock_index_serial=_optional(last.get("lock_index_serial"), int),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        logger.warning("ignoring malformed %s: %s", path, error)
        return SyncState()


def _optional(value: object, kind: type[T]) -> T | None:
    if value is None:
        return None
    if isinstance(value, kind) and not isinstance(value, bool):
        return value
    raise TypeError(f"expected {kind.__name__}, found {value!r}")


@dataclass(frozen=True)
class LockRecord:
    """What ``state.json`` keeps of the current generation's lock (see ``SyncState``)."""

    sha256: str
    bundles: dict[str, str]
    """name -> bundle sha256."""
    index: str | None
    index_serial: int | None


def record_sync(
    layout: PluginDirLayout,
    state: SyncState,
    *,
    index_url: str,
    requirements_key: str,
    packages: dict[str, str],
    generation: str | None,
    lock: LockRecord | None = None,
    root_bytes: bytes,
    root_etag: str,
    serial: int,
) -> None:
    """Write down what a successful sync saw, so that the next one with nothing to do is one
    request: ``state.json``, the accepted root beside the cached documents (gc collects the
    documents it no longer names), and, once, the dir's id and ``pins/``."""
    try:
        layout.documents.mkdir(parents=True, exist_ok=True)
        write_atomic(layout.documents / ROOT_COPY, root_bytes)
    except OSError as error:  # only a cache: a sync must not fail for it
        logger.warning("cannot keep a copy of the index root: %s", error)
    # Made here, so that a process pinning a generation creates nothing in the plugin dir.
    layout.pins.mkdir(exist_ok=True)
    if not layout.identity_file.is_file():
        import secrets  # not at the top: a no-op sync never needs it

        write_atomic(layout.identity_file, secrets.token_hex(16).encode() + b"\n")
    state.indexes[index_url] = IndexState(etag=root_etag, serial=serial)
    state.index = index_url
    state.requirements = requirements_key
    state.generation = generation
    state.packages = dict(packages)
    state.bundles = {} if lock is None else dict(lock.bundles)
    state.lock_sha256 = None if lock is None else lock.sha256
    state.lock_index = None if lock is None else lock.index
    state.lock_index_serial = None if lock is None else lock.index_serial
    write_state(layout.state_file, state)


def last_sync_requirements(layout: PluginDirLayout) -> tuple[list[str], str | None]:
    """The requirements and index URL of the last successful sync of ``layout``, for a sync
    given none (as a bare ``uv sync`` repeats the project's): not those of a generation a
    rollback switched to, which state.json does not record."""
    from dioptra_plugins.errors import UsageError

    state = read_state(layout.state_file)
    if state.requirements is None:
        raise UsageError(
            f"nothing to sync: give requirements or a lock file ({layout.root} has no earlier "
            "sync to repeat)"
        )
    if state.requirements.startswith("locked:"):
        raise UsageError(
            f"the last sync of {layout.root} reproduced a lock file: give it again (locked=)"
        )
    # requirements_key's form: one requirement a line, whitespace removed (still PEP 508).
    return [line for line in state.requirements.splitlines() if line], state.index


def write_state(path: Path, state: SyncState) -> None:
    write_atomic(path, json.dumps(state.to_json(), indent=2, sort_keys=True).encode() + b"\n")
