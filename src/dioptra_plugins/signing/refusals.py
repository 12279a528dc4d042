"""What ngclient refused, said in one plain sentence: which rule of the TUF client workflow a
signed index broke (not signed, expired, rolled back, signed by other keys, mixed snapshots).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from pathlib import Path

from tuf.api import exceptions as tuf_errors
from tuf.api.metadata import Metadata

from dioptra_plugins.errors import DioptraPluginsError, IndexFormatError
from dioptra_plugins.signing import TrustError
from dioptra_plugins.signing.names import TIMESTAMP_KEY


def refusal(
    prefix: str,
    error: Exception,
    served: Mapping[str, tuple[str, bytes]],
    missing: Sequence[str],
    workdir: Path,
) -> DioptraPluginsError:
    """One plain sentence for what ngclient refused; ``served`` (key -> ETag and bytes) and
    ``missing`` are what its fetcher read and did not find, ``workdir`` its metadata dir."""
    message = " ".join(str(error).split())
    if isinstance(error, tuf_errors.DownloadHTTPError) and TIMESTAMP_KEY in missing:
        return TrustError(
            f"{prefix}: it is not signed ({TIMESTAMP_KEY} does not exist) but trust is "
            "configured; sign it with `dioptra-plugins index init URL --signed --keys KEYDIR`"
        )
    if isinstance(error, tuf_errors.DownloadError):
        cause = error.__cause__
        if isinstance(cause, DioptraPluginsError):
            return cause
        return TrustError(f"{prefix}: {message}")
    if isinstance(error, tuf_errors.ExpiredMetadataError):
        return TrustError(f"{prefix}: {_expiry(message, served, workdir)}")
    if isinstance(error, tuf_errors.BadVersionNumberError):
        return TrustError(
            f"{prefix}: rolled back or mixed metadata ({message}): an older signed index was "
            "replayed, or metadata of different snapshots was combined"
        )
    if isinstance(error, tuf_errors.UnsignedMetadataError):
        return TrustError(
            f"{prefix}: metadata not signed by the keys of the trusted root ({message})"
        )
    if isinstance(error, tuf_errors.LengthOrHashMismatchError):
        return TrustError(
            f"{prefix}: metadata of different snapshots ({message}): a role's file is not the "
            "one the role above it pins"
        )
    if isinstance(error, IndexFormatError):
        return error
    return TrustError(f"{prefix}: {message}")


def _expiry(message: str, served: Mapping[str, tuple[str, bytes]], workdir: Path) -> str:
    """``its timestamp metadata (version 7) expired at 2026-12-01T10:00:00Z, 3 h ago...``."""
    role = next(
        (r for r in ("timestamp", "snapshot", "targets", "root") if r in message), "timestamp"
    )
    candidates = [data for key, (_etag, data) in served.items() if f"{role}.json" in key]
    path = workdir / ("root.json" if role == "root" else f"{role}.json")
    if path.is_file():
        candidates.append(path.read_bytes())
    moments = []
    for data in candidates:
        try:
            signed = Metadata.from_bytes(data).signed
        except Exception:  # noqa: S112 - an unreadable candidate says nothing about the time
            continue
        if signed.type == role:
            moments.append((signed.expires, signed.version))
    if not moments:
        return f"its {role} metadata expired ({message})"
    expires, version = max(moments)
    ago = _duration((datetime.now(UTC) - expires).total_seconds())
    return (
        f"its {role} metadata (version {version}) expired at "
        f"{expires.strftime('%Y-%m-%dT%H:%M:%SZ')}, {ago} ago: the index is frozen, or nobody "
        "re-signed it (`dioptra-plugins index refresh --keys KEYDIR`)"
    )


def _duration(seconds: float) -> str:
    seconds = max(0, int(seconds))
    for size, unit in ((86_400, "d"), (3_600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{seconds} s"
