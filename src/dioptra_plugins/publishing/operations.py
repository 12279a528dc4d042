"""The index's write operations for Python callers: ``dioptra_plugins.publish`` and friends.

Each takes ``index`` as ``sync(index=...)`` does (an ``s3://`` URL, a read-only ``https://``
URL, a directory or ``file://`` URL; default ``$DIOPTRA_PLUGINS_INDEX``), or a storage already
opened, ``timeout`` for an index given as a URL (seconds an S3 or HTTP index may take per
attempt; default ``$DIOPTRA_PLUGINS_TIMEOUT``, else 10), and ``keys``, the key directory of a
signed index.  The signing policy (``signing.policy``) is applied below these
functions, in the library's own write paths, so calling those directly obeys it too: on a
signed index a write signs (with ``keys``) or is refused before it writes anything.  ``keys``
is never read from the environment here: a Python caller names its keys (the command line
reads ``$DIOPTRA_PLUGINS_KEYS``).  The command line calls these functions.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dioptra_plugins.errors import UsageError
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.publishing.initialize import InitResult
from dioptra_plugins.publishing.publish import ProgressCallback, PublishResult
from dioptra_plugins.publishing.repair import RepairResult
from dioptra_plugins.publishing.yank import YankResult

if TYPE_CHECKING:
    from dioptra_plugins.publishing.check import CheckReport
    from dioptra_plugins.signing.outcome import SignResult

PathArgument = str | os.PathLike[str]


IndexArgument = str | os.PathLike[str] | Storage
"""An index URL or directory, or a storage already opened (``index.url.open_storage``)."""


def _storage(index: IndexArgument | None, timeout: float | None) -> Storage:
    from dioptra_plugins.index.defaults import required_index
    from dioptra_plugins.index.url import open_storage

    if index is not None and not isinstance(index, str | os.PathLike):
        return index  # already open (the command line counts its requests)
    return open_storage(required_index(index), timeout=timeout)


def _keys(keys: PathArgument | None) -> Path | None:
    return Path(os.fspath(keys)) if keys is not None else None


def publish(
    wheels: PathArgument | Iterable[PathArgument],
    *,
    index: IndexArgument | None = None,
    timeout: float | None = None,
    keys: PathArgument | None = None,
    dry_run: bool = False,
    progress: ProgressCallback | None = None,
    sent: Callable[[int], None] | None = None,
) -> PublishResult:
    """Verify ``wheels`` (one path or several) and publish them to ``index`` in one root swap.

    ``keys``: the key directory of a signed index (targets.pem, snapshot.pem, timestamp.pem
    and root.json).  Without it, a signed index is refused (SigningError) before anything is
    written; with it, a root the signed metadata does not pin (a bucket writer's) is refused
    (UnsignedRootError, naming what differs).  ``dry_run`` verifies and compares, and writes
    nothing.  ``progress(filename)`` is called as each bundle is in the index, ``sent(n)``
    as bundle bytes are read for upload.  Returns what happened to each file, the serial, and
    ``signed`` (what was signed, for a signed index).
    """
    from dioptra_plugins.publishing import publish as publishing

    paths = [wheels] if isinstance(wheels, str | os.PathLike) else list(wheels)
    if not paths:
        raise UsageError("no wheels to publish")
    return publishing.publish(
        _storage(index, timeout),
        [Path(os.fspath(path)) for path in paths],
        progress=progress,
        sent=sent,
        dry_run=dry_run,
        keys=_keys(keys),
    )


def yank(
    name: str,
    version: str,
    *,
    index: IndexArgument | None = None,
    timeout: float | None = None,
    reason: str | None = None,
    keys: PathArgument | None = None,
) -> YankResult:
    """Mark every file of ``name`` ``version`` as yanked (PEP 592), with ``reason``.

    Signed or refused like :func:`publish`.  PublishError when the version is not there.
    """
    from dioptra_plugins.publishing.yank import normalize_pin, set_yanked

    normalized, parsed = normalize_pin(name, version)
    return set_yanked(
        _storage(index, timeout), normalized, parsed, yanked=True, reason=reason, keys=_keys(keys)
    )


def unyank(
    name: str,
    version: str,
    *,
    index: IndexArgument | None = None,
    timeout: float | None = None,
    keys: PathArgument | None = None,
) -> YankResult:
    """Undo a yank of ``name`` ``version``; signed or refused like :func:`publish`."""
    from dioptra_plugins.publishing.yank import normalize_pin, set_yanked

    normalized, parsed = normalize_pin(name, version)
    return set_yanked(_storage(index, timeout), normalized, parsed, yanked=False, keys=_keys(keys))


def refresh(
    *,
    index: IndexArgument | None = None,
    timeout: float | None = None,
    keys: PathArgument,
    timestamp_expiry: int | None = None,
) -> SignResult:
    """Renew the timestamp of a signed index (a cron job, more often than it expires).

    Needs only ``timestamp.pem`` and ``root.json`` in ``keys``, and never signs targets or
    snapshot whatever else the directory holds.  Completes a publisher that died between its
    root swap and putting its signature in place (``completed`` in the result).  A root that
    differs from the signed one raises UnsignedRootError naming the differences (the
    timestamp of the signed state was renewed: workers that verify stay on it).
    ``timestamp_expiry``: seconds the new timestamp is valid (kept for later refreshes).
    """
    from dioptra_plugins.signing.refresh import refresh_index

    if timestamp_expiry is not None and timestamp_expiry < 1:
        raise UsageError(f"timestamp expiry must be 1 second or more, not {timestamp_expiry}")
    return refresh_index(
        _storage(index, timeout), Path(os.fspath(keys)), timestamp_expiry=timestamp_expiry
    )


def renew(
    *,
    index: IndexArgument | None = None,
    timeout: float | None = None,
    keys: PathArgument,
    restore: bool = False,
) -> SignResult:
    """Sign the current content anew under the next serial (a publisher's operation).

    Targets and snapshot expire a year after they were signed; every publish, yank and
    unyank signs new ones, and so does this, with an unchanged root.  Needs the publisher's
    keys (targets, snapshot, timestamp).  ``restore`` puts the signed root's content back,
    with a serial above the current one, after ``index.json`` was replaced by someone without
    keys, damaged or lost (refused when it is signed).
    """
    from dioptra_plugins.signing.policy import writer_for

    storage = _storage(index, timeout)
    writer = writer_for(storage, Path(os.fspath(keys)), action="index renew")
    assert writer is not None
    return writer.swap_unchanged(restore=restore)


def init_index(
    index: IndexArgument | None = None,
    *,
    timeout: float | None = None,
    signed: bool = False,
    keys: PathArgument | None = None,
    timestamp_expiry: int | None = None,
) -> InitResult:
    """Create an empty index (an existing one is left as it is).

    ``signed``: also sign it with ``keys`` (created as root version 1 from the key directory's
    four keys when ``KEYDIR/root.json`` is missing); an index that is not signed yet is signed
    as it is, one already signed is only refreshed.  ``timestamp_expiry``: seconds each
    timestamp is valid (default a day).
    """
    from dioptra_plugins.publishing import initialize

    if timestamp_expiry is not None and timestamp_expiry < 1:
        raise UsageError(f"timestamp expiry must be 1 second or more, not {timestamp_expiry}")
    return initialize.init_index(
        _storage(index, timeout), signed=signed, keys=_keys(keys), timestamp_expiry=timestamp_expiry
    )


@dataclass
class SignedRepairResult(RepairResult):
    """What ``index repair`` did, and what it signed (None: an unsigned index)."""

    signed: SignResult | None = None


def repair(
    *,
    index: IndexArgument | None = None,
    timeout: float | None = None,
    keys: PathArgument | None = None,
    serial: int | None = None,
    force: bool = False,
    choose: str | None = None,
    without_history: bool = False,
) -> SignedRepairResult:
    """Write a lost or damaged ``index.json`` again (``publishing.repair.repair_index``).

    On a signed index it needs ``keys`` (refused before anything is written otherwise), and
    the rebuilt root must hold exactly the content the signed metadata pins: it is then signed
    under its new serial; anything else is refused (UnsignedRootError, naming the
    differences; :func:`renew` with ``restore=True`` puts the signed root back).
    """
    from dioptra_plugins.publishing.repair import repair_index
    from dioptra_plugins.signing import open_writer

    storage = _storage(index, timeout)
    writer = open_writer(storage, _keys(keys), action="index repair")
    result = repair_index(
        storage,
        serial=serial,
        force=force,
        choose=choose,
        without_history=without_history,
        before_replace=writer.before_rebuild if writer is not None else None,
    )
    signed = None
    if writer is not None:
        signed = writer.after_swap()
    values = {f.name: getattr(result, f.name) for f in dataclasses.fields(RepairResult)}
    return SignedRepairResult(**values, signed=signed)


def check_index(
    *,
    index: IndexArgument | None = None,
    timeout: float | None = None,
    trust: PathArgument | bytes | None = None,
    max_workers: int = 8,
) -> CheckReport:
    """Check everything the index's root reaches (``publishing.check.check_index``); read-only.

    Every bundle and metadata file is re-hashed against the root.  ``trust``: a trusted
    ``root.json`` (a path, or its bytes) of a signed index; then the root the signed metadata
    pins is checked, and where it and ``index.json`` disagree.  What is wrong with the index is
    in the report (``ok``, ``problems``, ``disagreements``); only an unusable argument raises
    (UsageError).
    """
    from dioptra_plugins.publishing import check

    if max_workers < 1:
        raise UsageError(
            f"`max_workers` must be 1 or more, not {max_workers}", parameters=("max_workers",)
        )
    return check.check_index(_storage(index, timeout), max_workers=max_workers, trust=trust)
