"""The Content-Type an index object is written with, where a browser needs one."""

from __future__ import annotations

from typing import Any

# What S3 website hosting and CDNs serve as Content-Type: the catalogue (site/) and the simple
# pages must render in a browser, not download as binary/octet-stream.
_CONTENT_TYPES = {
    ".html": "text/html; charset=utf-8",
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".json": "application/json",
    ".jsonl": "application/jsonl",  # document packs: CDNs compress what they can name
}


def content_type(key: str) -> dict[str, Any]:
    """The ``ContentType`` argument of a put of ``key`` (none for bundles and the rest)."""
    suffix = key[key.rfind(".") :] if "." in key.rsplit("/", 1)[-1] else ""
    found = _CONTENT_TYPES.get(suffix)
    return {"ContentType": found} if found else {}
