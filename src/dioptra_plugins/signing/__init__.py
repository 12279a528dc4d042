"""The signed index (issue 14): TUF metadata written with python-tuf, read with ngclient.

A bucket writer can rewrite every unsigned document consistently; a worker given a trusted
root (``sync --trust ROOT.json``) believes only what the index's TUF metadata signs:

- ``keys``: the Ed25519 keys of the four TUF roles in a key directory (files 0600);
- ``metadata``: the writer side's mechanism (sign before the swap, promote after it, the
  timestamp), Metadata API objects signed with securesystemslib signers, on top of
  ``signed_state``, which reads what the index's metadata signs, verified with the keys' root;
- ``policy``: which write may sign what (every write path of the library goes through it:
  publish, yank, unyank, repair, ``index refresh``, ``index renew``, ``keys rotate``, ``index
  init --signed``, the last two in ``refresh``); ``differences`` says how an unsigned root
  differs from the signed one, to a writer, and ``views`` to a reader (``index check --trust``);
- ``trust``: the reader side, an ngclient ``Updater`` whose fetcher reads the index's own
  storage, wrapped as a read-only storage that hands the sync engine only verified bytes
  (``refusals`` says in one sentence what ngclient refused).

The layout under the index (DESIGN §4) is ``tuf/<n>.root.json`` (every root version),
``tuf/<v>.targets.json`` and ``tuf/<v>.snapshot.json`` (consistent snapshots, ``v`` = index
serial + 1, signed before the root swap of that serial as ``tuf/pending/<sha256 of the root
bytes>.*.json`` and promoted create-only once the swap was won) and ``tuf/timestamp.json``
(replaced by compare-and-swap, only ever forward).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

# The errors of the signed index live in the one family module; they stay importable here.
from dioptra_plugins.errors import SignedMismatchError as SignedMismatchError
from dioptra_plugins.errors import SigningError as SigningError
from dioptra_plugins.errors import TrustError as TrustError
from dioptra_plugins.errors import UnsignedRootError as UnsignedRootError

if TYPE_CHECKING:
    import os

    from dioptra_plugins.index.storage import Storage
    from dioptra_plugins.signing.policy import SignedWriter

TRUST_VARIABLE = "DIOPTRA_PLUGINS_TRUST"
"""The trusted root metadata file ``sync`` uses when ``--trust`` is not given."""
KEYS_VARIABLE = "DIOPTRA_PLUGINS_KEYS"
"""The key directory the writing commands use when ``--keys`` is not given."""


def is_signed(storage: Storage) -> bool:
    """Whether the index carries TUF metadata (its timestamp, or its first root version).

    Cost: one request on a signed index, two on an unsigned one.
    """
    from dioptra_plugins.errors import ObjectNotFoundError
    from dioptra_plugins.signing.names import TIMESTAMP_KEY, metadata_key

    for key in (TIMESTAMP_KEY, metadata_key("root", 1)):
        try:
            storage.get(key)
        except ObjectNotFoundError:
            continue
        return True
    return False


def open_writer(
    storage: Storage, keys: str | os.PathLike[str] | None, *, action: str
) -> SignedWriter | None:
    """The signing policy of one write, before it writes anything (``signing.policy``).

    None: an unsigned index written without keys (TUF is not even imported then).
    """
    if keys is None and not is_signed(storage):
        return None
    from dioptra_plugins.signing.policy import writer_for

    return writer_for(storage, keys, action=action)
