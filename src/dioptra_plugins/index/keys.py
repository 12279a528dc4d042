"""Where things live inside an index (DESIGN §4), and which keys are acceptable at all."""

from __future__ import annotations

import re

from dioptra_plugins.errors import UsageError

ROOT_KEY = "index.json"
SIMPLE_ROOT_KEY = "simple/index.html"
SIMPLE_ROOT_JSON_KEY = "simple/index.json"
HISTORY_PREFIX = "history/"
PACK_PREFIX = "packs/"

# A PEP 503-normalized project name: lower case, runs of -_. collapsed into one "-".
_NORMALIZED_NAME = re.compile(r"^[a-z0-9]([a-z0-9-]*[a-z0-9])?$")
_SHA256 = re.compile(r"^[0-9a-f]{64}$")
_HISTORY_KEY = re.compile(r"^history/([0-9]{12,19})-([0-9a-f]{64})\.json$")


def is_normalized_name(name: str) -> bool:
    return bool(_NORMALIZED_NAME.match(name)) and "--" not in name


def is_sha256(value: str) -> bool:
    return bool(_SHA256.match(value))


def project_document_key(name: str, sha256: str) -> str:
    return f"projects/{name}/{sha256}.json"


def pack_key(root_sha256: str) -> str:
    """The documents of the root whose exact bytes have this sha256, in one object."""
    return f"{PACK_PREFIX}{root_sha256}.jsonl"


def history_key(serial: int, root_sha256: str) -> str:
    """The record of one root swap: zero-padded so that key order is serial order."""
    return f"{HISTORY_PREFIX}{serial:012d}-{root_sha256}.json"


def parse_history_key(key: str) -> tuple[int, str] | None:
    """(serial, sha256 of the root bytes) a history key names, or None for any other key."""
    match = _HISTORY_KEY.match(key)
    if match is None:
        return None
    serial, sha256 = int(match.group(1)), match.group(2)
    # One spelling per record: "0000000000012-..." is not serial 12's key.
    return (serial, sha256) if history_key(serial, sha256) == key else None


def bundle_key(name: str, filename: str) -> str:
    return f"bundles/{name}/{filename}"


def core_metadata_key(name: str, filename: str) -> str:
    """PEP 658: a wheel's METADATA, served at the wheel's URL plus ``.metadata``."""
    return f"{bundle_key(name, filename)}.metadata"


def simple_project_key(name: str) -> str:
    return f"simple/{name}/index.html"


def simple_project_json_key(name: str) -> str:
    """PEP 691's JSON form of the project page, beside the HTML one."""
    return f"simple/{name}/index.json"


def check_key(key: str) -> str:
    """Refuse keys that could leave the index prefix or hide among a backend's own files."""
    parts = key.split("/")
    if (
        not key
        or "\x00" in key
        or "\\" in key
        or any(part in ("", ".", "..") or part.startswith(".") for part in parts)
    ):
        raise UsageError(f"invalid index key {key!r}")
    return key
