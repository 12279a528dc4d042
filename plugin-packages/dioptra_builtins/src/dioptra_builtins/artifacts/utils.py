"""Task plugins for artifact files on local paths: directories, tarballs, copies."""

from __future__ import annotations

import logging
import os
import posixpath
import shutil
import tarfile
import tempfile
from collections.abc import Sequence
from pathlib import Path, PurePosixPath
from typing import Literal

from dioptra_builtins.artifacts.exceptions import UnsafeArchiveError
from dioptra_plugins import pyplugs

LOGGER = logging.getLogger(__name__)

ReadMode = Literal["r", "r:*", "r:", "r:gz", "r:bz2", "r:xz"]


@pyplugs.register
def make_directories(dirs: Sequence[str | Path]) -> list[Path]:
    """Create each directory (with its parents) if missing and return their paths."""
    created = []
    for directory in dirs:
        path = Path(directory)
        path.mkdir(parents=True, exist_ok=True)
        created.append(path)
    return created


@pyplugs.register(sort_value=10)
def extract_tarfile(
    filepath: str | Path,
    output_dir: str | Path = ".",
    tarball_read_mode: ReadMode = "r:*",
) -> Path:
    """Extract a tar archive into output_dir, refusing any member that could escape it.

    Every member is checked before anything is written (absolute names, ``..``, links whose
    target leaves the directory or runs through another link, device files), so a hostile
    archive is refused as a whole with every problem listed. The archive is then unpacked into
    a staging directory with tarfile's ``data`` filter and only moved into ``output_dir`` once
    all of it extracted, so a refused or broken archive leaves ``output_dir`` unchanged.
    """
    output = Path(output_dir).resolve()
    with tarfile.open(filepath, tarball_read_mode) as archive:
        members = archive.getmembers()
        problems = _unsafe_members(members)
        if problems:
            raise UnsafeArchiveError(filepath, problems)
        output.mkdir(parents=True, exist_ok=True)
        staging = Path(tempfile.mkdtemp(prefix=".extract-", dir=output))
        try:
            try:
                archive.extractall(staging, members=members, filter="data")
            except tarfile.FilterError as error:
                # The data filter resolves real paths on disk, so it also catches link
                # tricks that a purely lexical check of the member list cannot see.
                raise UnsafeArchiveError(filepath, [str(error)]) from error
            _merge_into(staging, output)
        finally:
            shutil.rmtree(staging, ignore_errors=True)
    LOGGER.info("extracted %d members of %s into %s", len(members), filepath, output)
    return output


@pyplugs.register(sort_value=20)
def archive_directory(source_dir: str | Path, tarball_path: str | Path) -> Path:
    """Pack a directory into a gzip-compressed tarball (entries sorted, owners cleared)."""
    source = Path(source_dir)
    if not source.is_dir():
        raise NotADirectoryError(f"not a directory: {source}")
    target = Path(tarball_path)
    target.parent.mkdir(parents=True, exist_ok=True)
    with tarfile.open(target, "w:gz") as archive:
        archive.add(source, arcname=source.name, filter=_anonymous)
    return target


@pyplugs.register(sort_value=30)
def copy_artifact(source: str | Path, output_dir: str | Path) -> Path:
    """Copy a file or directory tree into output_dir and return the copy's path."""
    origin = Path(source)
    destination_dir = Path(output_dir)
    destination_dir.mkdir(parents=True, exist_ok=True)
    destination = destination_dir / origin.name
    if origin.is_dir():
        shutil.copytree(origin, destination, symlinks=True, dirs_exist_ok=True)
    else:
        shutil.copy2(origin, destination)
    return destination


def _unsafe_members(members: Sequence[tarfile.TarInfo]) -> list[str]:
    """Describe every member that could write or point outside the extraction directory."""
    links = {posixpath.normpath(m.name) for m in members if m.issym()}
    problems = []
    for member in members:
        name = PurePosixPath(member.name)
        if name.is_absolute():
            problems.append(f"{member.name!r}: absolute path")
        elif ".." in name.parts:
            problems.append(f"{member.name!r}: parent directory reference")
        else:
            through = _first_link_on(list(name.parts[:-1]), links)
            if through:
                problems.append(f"{member.name!r}: path runs through link {through!r}")
        if member.isdev():
            problems.append(f"{member.name!r}: device or fifo")
        if member.issym() or member.islnk():
            problem = _link_problem(member, links)
            if problem:
                problems.append(f"{member.name!r}: {problem}")
    return problems


def _link_problem(member: tarfile.TarInfo, links: set[str]) -> str | None:
    """Why a link member is unsafe, or None if its target stays inside the directory.

    The target is walked one component at a time instead of being normalized, because
    ``a/..`` only means "here" when ``a`` is a real directory, not a link of the archive.
    """
    target = member.linkname
    if posixpath.isabs(target):
        return f"link to absolute path {target!r}"
    # Symlink targets are relative to the link's folder, hard-link targets to the archive root.
    base = posixpath.dirname(member.name) if member.issym() else ""
    position = [part for part in base.split("/") if part not in ("", ".")]
    for part in target.split("/"):
        if part in ("", "."):
            continue
        if _first_link_on(position, links):
            return f"link target {target!r} runs through another link"
        if part != "..":
            position.append(part)
        elif position:
            position.pop()
        else:
            return f"link target {target!r} escapes the directory"
    return None


def _first_link_on(parts: list[str], links: set[str]) -> str | None:
    """The first prefix of the path parts that is a symlink member of the archive, if any."""
    for depth in range(1, len(parts) + 1):
        prefix = "/".join(parts[:depth])
        if prefix in links:
            return prefix
    return None


def _merge_into(staging: Path, output: Path) -> None:
    """Move staged entries into output; existing files are replaced, never written through."""
    for entry in sorted(staging.iterdir()):
        destination = output / entry.name
        if entry.is_dir() and not entry.is_symlink() and _is_real_dir(destination):
            _merge_into(entry, destination)
            continue
        if destination.is_symlink() or destination.is_file():
            destination.unlink()
        elif destination.exists():
            shutil.rmtree(destination)
        os.replace(entry, destination)


def _is_real_dir(path: Path) -> bool:
    return path.is_dir() and not path.is_symlink()


def _anonymous(info: tarfile.TarInfo) -> tarfile.TarInfo:
    info.uid = info.gid = 0
    info.uname = info.gname = ""
    return info
