"""What a signer found in the index (its timestamp) and what it did (a :class:`SignResult`)."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any

from tuf.api.metadata import Timestamp  # type: ignore[attr-defined]

from dioptra_plugins.signing.names import SETTINGS_FIELD


@dataclass(frozen=True)
class SignResult:
    url: str
    serial: int
    """The index serial the signed metadata covers now (as far as this signer knows)."""
    wrote_snapshot: bool
    """True when this call wrote targets and snapshot metadata for ``serial``."""
    timestamp: str
    """``written``, ``current`` (already pointed there) or ``newer`` (a newer serial is signed)."""
    timestamp_version: int
    expires: str | None
    """When the timestamp written expires (None when none was written)."""

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
