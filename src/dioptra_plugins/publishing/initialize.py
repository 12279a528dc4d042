"""Create an empty index (``index init``); publish does the same lazily on first use.

``signed=True`` also signs it (``index init --signed``): the root metadata of the key directory
(created with its first version when missing) is uploaded, then the index is signed as it is,
or, when it already holds signed metadata, only refreshed (``signing.policy``).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from dioptra_plugins.errors import ConflictError, UsageError
from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.history import recorded_replace, refuse_a_lost_root
from dioptra_plugins.index.reading import read_root
from dioptra_plugins.index.simple import update_simple_pages
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.signing import SigningError, is_signed

if TYPE_CHECKING:
    from dioptra_plugins.signing.outcome import SignResult


@dataclass(frozen=True)
class InitResult:
    url: str
    created: bool
    """False when an index was already there (it is left untouched)."""
    serial: int
    signed: SignResult | None = None
    """With ``signed=True``: what was signed."""
    trusted_root: str | None = None
    """With ``signed=True``: the root metadata workers trust (``KEYDIR/root.json``)."""
    root_created: bool = False
    """With ``signed=True``: the key directory's root metadata was created by this call."""


def init_index(
    storage: Storage,
    *,
    signed: bool = False,
    keys: str | os.PathLike[str] | None = None,
    timestamp_expiry: int | None = None,
) -> InitResult:
    """Write an empty root (serial 0) unless one exists; a damaged root is IndexFormatError.

    ``signed``: also sign the index with the keys in ``keys`` (see the module docstring).
    A signed index whose ``index.json`` is missing is refused: an empty root would drop every
    signed project (``index renew --restore`` puts the signed root back).
    """
    if not signed and (keys is not None or timestamp_expiry is not None):
        raise UsageError(
            "`keys` and `timestamp_expiry` go with `signed`",
            parameters=("keys", "timestamp_expiry", "signed"),
        )
    if signed and keys is None:
        raise UsageError(
            "`signed` needs `keys`, a key directory (`dioptra-plugins keys generate KEYDIR` "
            "makes one)",
            parameters=("signed", "keys"),
        )
    if signed:
        assert keys is not None
        from dioptra_plugins.signing.roots import ensure_root

        _data, root_created = ensure_root(Path(keys))  # before any write to the index
    storage.prepare()
    snapshot = read_root(storage)
    created = False
    serial = snapshot.root.serial
    if not snapshot.exists:
        if is_signed(storage):
            raise SigningError(
                f"{storage.url} is a signed index whose index.json is missing: not creating an "
                "empty one over its signed projects (a publisher restores the signed root with "
                "`dioptra-plugins index renew --restore`); nothing was changed"
            )
        refuse_a_lost_root(storage)
        root = RootDocument.empty()
        try:
            # Recorded like every swap, so that a repair of a lost root knows this history.
            recorded_replace(storage, snapshot, root, root.to_bytes())
        except ConflictError:
            # Someone initialised (or published to) it a moment ago: fine, and it must be valid.
            serial = read_root(storage).root.serial
        else:
            update_simple_pages(storage, root, ())
            created = True
    result = InitResult(storage.url, created, serial)
    if not signed:
        return result
    from dioptra_plugins.signing.refresh import initialize_signed

    assert keys is not None
    signing = initialize_signed(storage, keys, timestamp_expiry=timestamp_expiry)
    return InitResult(
        storage.url,
        created,
        signing.serial,
        signing,
        str(Path(keys) / "root.json"),
        root_created,
    )
