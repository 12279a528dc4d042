"""What a signer found in the index (its timestamp, its signed state, pending metadata) and
what it did (a :class:`SignResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from tuf.api.metadata import MetaFile, Targets, Timestamp  # type: ignore[attr-defined]

from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.signing.names import SETTINGS_FIELD


@dataclass(frozen=True)
class SignResult:
    url: str
    serial: int
    """The index serial the signed metadata covers now (as far as this signer knows)."""
    wrote_snapshot: bool
    """True when this call put targets and snapshot metadata for ``serial`` in place (signed
    by this writer before its swap, or a crashed publisher's, promoted by ``index refresh``)."""
    timestamp: str
    """``written``, ``current`` (already pointed there) or ``newer`` (a newer serial is signed)."""
    timestamp_version: int
    expires: str | None
    """When the timestamp written expires (None when none was written)."""
    completed: bool = False
    """``index refresh`` promoted the metadata a publisher signed before it died."""
    metadata_expires: str | None = None
    """When the signed targets and snapshot expire (``index renew`` re-signs them)."""

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class FoundTimestamp:
    """The timestamp as found in the index; only a verified one is believed."""

    etag: str | None
    version: int
    verified: Timestamp | None

    @property
    def snapshot_version(self) -> int:
        return self.verified.snapshot_meta.version if self.verified else 0

    @property
    def expiry_seconds(self) -> int | None:
        if self.verified is None:
            return None
        settings = self.verified.unrecognized_fields.get(SETTINGS_FIELD)
        value = settings.get("timestamp_expiry") if isinstance(settings, dict) else None
        return value if isinstance(value, int) and value > 0 else None


@dataclass(frozen=True)
class SignedState:
    """The last signed state: timestamp -> snapshot -> targets -> the index root they pin.

    Every link is verified against the key directory's root (signatures, lengths, hashes).
    ``snapshot_meta`` is None when the index has no signed state these keys accept.
    """

    timestamp: FoundTimestamp
    snapshot_meta: MetaFile | None = None
    targets: Targets | None = None
    root_bytes: bytes | None = None
    metadata_expires: datetime | None = None
    root: RootDocument | None = field(default=None, compare=False)

    @property
    def version(self) -> int:
        return self.snapshot_meta.version if self.snapshot_meta is not None else 0


@dataclass(frozen=True)
class Pending:
    """Targets and snapshot a writer signed before its root swap (``tuf/pending/<sha256>``)."""

    version: int
    root_sha256: str
    targets: Targets
    targets_bytes: bytes
    snapshot_bytes: bytes
