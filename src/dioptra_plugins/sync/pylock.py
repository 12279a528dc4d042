"""The lock of a generation, written as a PEP 751-shaped ``pylock.toml``.

It names every bundle of the generation with its version, URL, size and sha256, which is all
``sync --locked`` needs to rebuild the same set byte for byte, and what a job records as the
exact plugin code it ran.  Sync-specific facts (generation, index serial, requirements, the
import package of each bundle) live under ``[tool.dioptra-plugins]`` tables, as PEP 751 allows.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dioptra_plugins.errors import UsageError

LOCK_VERSION = "1.0"
TOOL = "dioptra-plugins"


@dataclass(frozen=True)
class LockedPackage:
    """One bundle of a generation."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int
    top_level: str
    index: str
    url: str


@dataclass(frozen=True)
class Lock:
    packages: tuple[LockedPackage, ...]
    index: str
    generation: str | None = None
    index_serial: int | None = None
    requirements: tuple[str, ...] = ()


def bundle_url(index_url: str, key: str) -> str:
    """Where a bundle lives: ``s3://bucket/prefix/<key>``, or a ``file://`` URL locally."""
    if "://" in index_url and not index_url.startswith("file://"):
        return f"{index_url.rstrip('/')}/{key}"
    base = index_url.removeprefix("file://")
    return (Path(base).resolve() / key).as_uri()


def lock_to_toml(lock: Lock) -> bytes:
    import tomli_w

    tool: dict[str, Any] = {"index": lock.index, "requirements": list(lock.requirements)}
    if lock.generation is not None:
        tool["generation"] = lock.generation
    if lock.index_serial is not None:
        tool["index-serial"] = lock.index_serial
    document: dict[str, Any] = {
        "lock-version": LOCK_VERSION,
        "created-by": TOOL,
        "packages": [
            {
                "name": package.name,
                "version": package.version,
                "index": package.index,
                "wheels": [
                    {
                        "name": package.filename,
                        "url": package.url,
                        "size": package.size,
                        "hashes": {"sha256": package.sha256},
                    }
                ],
                "tool": {TOOL: {"top-level": package.top_level}},
            }
            for package in sorted(lock.packages, key=lambda p: p.name)
        ],
        "tool": {TOOL: tool},
    }
    return tomli_w.dumps(document).encode()


def _lock_problem(source: str, message: str) -> UsageError:
    return UsageError(f"{source} is not a dioptra-plugins lock: {message}")


def lock_from_toml(data: bytes, source: str = "pylock.toml") -> Lock:
    """Parse a lock written by :func:`lock_to_toml`; a malformed one is a UsageError."""
    import tomllib

    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise _lock_problem(source, str(error)) from error
    if document.get("lock-version") != LOCK_VERSION:
        raise _lock_problem(source, f"lock-version {document.get('lock-version')!r}")
    try:
        tool = document.get("tool", {}).get(TOOL, {})
        packages = []
        for entry in document.get("packages", []):
            (wheel,) = entry["wheels"]
            packages.append(
                LockedPackage(
                    name=str(entry["name"]),
                    version=str(entry["version"]),
                    filename=str(wheel["name"]),
                    sha256=str(wheel["hashes"]["sha256"]),
                    size=int(wheel["size"]),
                    top_level=str(entry["tool"][TOOL]["top-level"]),
                    index=str(entry["index"]),
                    url=str(wheel["url"]),
                )
            )
        index = str(tool.get("index") or (packages[0].index if packages else ""))
        serial = tool.get("index-serial")
        return Lock(
            packages=tuple(packages),
            index=index,
            generation=tool.get("generation"),
            index_serial=int(serial) if serial is not None else None,
            requirements=tuple(str(r) for r in tool.get("requirements", [])),
        )
    except (AttributeError, KeyError, TypeError, ValueError) as error:
        raise _lock_problem(source, f"missing or malformed field: {error!r}") from error


def read_lock(path: Path) -> Lock:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read lock file {path}: {error}") from error
    return lock_from_toml(data, str(path))
