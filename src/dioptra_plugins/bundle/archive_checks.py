"""The archive-level checks of a wheel: its filename, its entries' names, kinds and sizes, and
its one ``.dist-info`` directory, all from the zip directory before a byte is decompressed.

Each check appends what it finds to the run's ``problems`` list and never stops at the first
one; :mod:`.verify` decides when to give up.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from dioptra_plugins.bundle.archive import (
    DAMAGED_ZIP_ERRORS,
    ancestors,
    damage,
    entry_kind_problem,
    is_dir,
    name_problems,
)
from dioptra_plugins.errors import BundleError


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile archive from exhausting disk or memory (zip bombs)."""

    max_total_size: int = 2 * 1024**3
    """Sum of the uncompressed sizes of all entries, in bytes."""
    max_entries: int = 50_000
    max_ratio: float = 200.0
    """Largest uncompressed/compressed ratio of one entry..."""
    ratio_min_size: int = 1024 * 1024
    """...checked only for entries at least this big (small files may compress very well)."""


def check_filename(path: Path, problems: list[str]) -> tuple[str, str]:
    """(distribution, version) from a wheel's filename; BundleError when it is not one."""
    try:
        name, version, _build, tags = parse_wheel_filename(path.name)
    except InvalidWheelFilename as error:
        problems.append(f"filename: {error}")
        raise BundleError(str(path), problems) from error
    if not any(tag.platform == "any" and tag.abi == "none" for tag in tags):
        problems.append(f"filename: {path.name} is not a pure-Python (none-any) wheel")
    return name, str(version)


def check_entries(
    infos: list[zipfile.ZipInfo], limits: Limits, problems: list[str]
) -> dict[str, zipfile.ZipInfo]:
    """The archive's files by name, after checking every entry's name, kind and size."""
    if len(infos) > limits.max_entries:
        problems.append(f"{len(infos)} entries, more than the limit of {limits.max_entries}")
    seen: dict[str, zipfile.ZipInfo] = {}
    directories: set[str] = set()
    total = 0
    for info in infos:
        directories.update(ancestors(info.filename))
        if is_dir(info):
            directories.add(info.filename.rstrip("/"))
        name = info.filename
        # zipfile cuts names at a NUL byte; the name as stored is in orig_filename.
        problems.extend(name_problems(info.orig_filename))
        if kind := entry_kind_problem(info):
            problems.append(kind)
        if name in seen:
            problems.append(f"{name!r}: duplicate entry")
        total += info.file_size
        ratio = info.file_size / max(info.compress_size, 1)
        if info.file_size >= limits.ratio_min_size and ratio > limits.max_ratio:
            problems.append(
                f"{name!r}: compression ratio {ratio:.0f} exceeds the limit of "
                f"{limits.max_ratio:.0f} (zip bomb?)"
            )
        if not is_dir(info):
            seen[name] = info
    if total > limits.max_total_size:
        problems.append(
            f"uncompressed size {total} bytes exceeds the limit of "
            f"{limits.max_total_size} bytes (zip bomb?)"
        )
    # Extraction would have to create the same path as a file and as a directory.
    for name in sorted(directories.intersection(seen)):
        problems.append(f"{name!r}: both a file and a directory")
    return seen


def check_dist_info_dir(
    files: dict[str, zipfile.ZipInfo], distribution: str, version: str, problems: list[str]
) -> str:
    """The one ``.dist-info`` directory, matching the filename and holding what a wheel must."""
    dist_infos = sorted({n.split("/", 1)[0] for n in files if ".dist-info/" in n})
    dist_infos = [d for d in dist_infos if d.endswith(".dist-info")]
    if len(dist_infos) != 1:
        problems.append(f"expected exactly one .dist-info directory, found {dist_infos or 'none'}")
        return ""
    dist_info = dist_infos[0]
    stem = dist_info[: -len(".dist-info")]
    di_name, _, di_version = stem.rpartition("-")
    if canonicalize_name(di_name) != canonicalize_name(distribution) or (
        canonicalize_version(di_version) != canonicalize_version(version)
    ):
        problems.append(f"{dist_info} does not match the filename ({distribution} {version})")
    for required in ("WHEEL", "METADATA", "RECORD"):
        if f"{dist_info}/{required}" not in files:
            problems.append(f"{dist_info}/{required} is missing")
    return dist_info


def read_member(archive: zipfile.ZipFile, name: str, problems: list[str]) -> bytes | None:
    """The bytes of one entry, or None (and a problem) when it cannot be read."""
    try:
        return archive.read(name)
    except KeyError as error:
        problems.append(f"{name}: cannot be read: {error}")
    except DAMAGED_ZIP_ERRORS as error:
        problems.append(f"{name}: cannot be read: {damage(error)}")
    return None


def read_member_text(archive: zipfile.ZipFile, name: str, problems: list[str]) -> str | None:
    """One entry as UTF-8 text, or None (and a problem)."""
    data = read_member(archive, name, problems)
    if data is None:
        return None
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as error:
        problems.append(f"{name}: not UTF-8 text: {error}")
        return None
