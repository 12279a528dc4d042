"""The signed index (issue 14): TUF metadata written with python-tuf, read with ngclient.

A bucket writer can rewrite every unsigned document consistently; a worker given a trusted
root (``sync --trust ROOT.json``) believes only what the index's TUF metadata signs:

- ``keys``: the Ed25519 keys of the four TUF roles in a key directory (files 0600);
- ``metadata``: the writer side (``index init --signed``, ``publish --keys``, ``index
  refresh``, ``keys rotate``), Metadata API objects signed with securesystemslib signers;
- ``trust``: the reader side, an ngclient ``Updater`` whose fetcher reads the index's own
  storage, wrapped as a read-only storage that hands the sync engine only verified bytes.

The layout under the index (DESIGN §4) is ``tuf/<n>.root.json`` (every root version),
``tuf/<v>.targets.json`` and ``tuf/<v>.snapshot.json`` (consistent snapshots, ``v`` = index
serial + 1, written create-only once the root swap of that serial was won) and
``tuf/timestamp.json`` (replaced by compare-and-swap, only ever forward).
"""

from __future__ import annotations

from dioptra_plugins.errors import IntegrityError, PublishError, SyncError

TRUST_VARIABLE = "DIOPTRA_PLUGINS_TRUST"
"""The trusted root metadata file ``sync`` uses when ``--trust`` is not given."""


class TrustError(SyncError):
    """A signed index failed verification (or is not signed while trust is configured)."""


class SignedMismatchError(IntegrityError):
    """Bytes an index served are not the ones its signed metadata pins: possible tampering.

    A bundle replaced after it was signed (by someone who can write the bucket, or a cache in
    between) ends the sync like this; a download cut short by the network does not (it stays a
    plain IntegrityError or a retried broken stream).  ``expected`` is what the signed targets
    pin, ``found`` what was served.
    """


class SigningError(PublishError):
    """Signing the index failed or was refused (missing key, keys not of this index...)."""
