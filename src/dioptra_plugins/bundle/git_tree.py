"""Reading one commit's trees out of the fetched repository and exporting one to a directory.

:func:`export_tree` writes a subtree file by file from the git objects (never a checkout: the
source's filters and attributes never run), with fixed modes, so what gets built depends on the
commit alone, not on the umask, the clock or where the temporary directory is.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from dioptra_plugins.bundle.git_source import Commit
from dioptra_plugins.errors import GitSourceError

LFS_POINTER = b"version https://git-lfs.github.com/spec/v1"


@dataclass(frozen=True)
class TreeEntry:
    mode: str
    kind: str
    object_id: str
    path: str


def tree_id(commit: Commit, subdirectory: str) -> str:
    """The tree id of ``subdirectory`` at ``commit``; GitSourceError when it is not a directory
    of the commit (missing, a file, or reached through a symlink)."""
    if not subdirectory:
        return commit.git.text("rev-parse", f"{commit.id}^{{tree}}")
    found = _directories(commit).get(subdirectory)
    if found is not None:
        return found
    # Not a directory of the commit: walk to the first step that is not, to say which and why.
    # Each step must be a directory: a symlink on the way could lead out of the repository.
    walked = ""
    for part in subdirectory.split("/"):
        walked = f"{walked}/{part}" if walked else part
        entry = _entry(commit, walked)
        if entry is None:
            raise GitSourceError(f"commit {commit.id[:12]} has no {walked!r}")
        if entry.mode == "120000":
            raise GitSourceError(
                f"{walked!r} is a symlink in commit {commit.id[:12]}: a subdirectory is followed "
                "only through real directories, never out of the repository"
            )
        if entry.kind != "tree":
            raise GitSourceError(f"{walked!r} is not a directory in commit {commit.id[:12]}")
        last = entry
    return last.object_id


@functools.lru_cache(maxsize=8)
def _directories(commit: Commit) -> dict[str, str]:
    """Every directory of ``commit`` and its tree id, from one ``git ls-tree`` (a commit that
    declares 40 packages asks for each of them twice: planning, then building).

    git recurses into directories only, so each path listed is reached through real
    directories, never a symlink or a submodule.
    """
    output = commit.git.run("ls-tree", "-r", "-d", "-z", "--full-tree", commit.id).stdout
    return {entry.path: entry.object_id for entry in tree_entries(output) if entry.kind == "tree"}


def _entry(commit: Commit, path: str) -> TreeEntry | None:
    output = commit.git.run("ls-tree", "-z", "--full-tree", commit.id, "--", path).stdout
    for entry in tree_entries(output):
        if entry.path == path:
            return entry
    return None


def tree_entries(output: bytes) -> Iterator[TreeEntry]:
    """The entries of ``git ls-tree -z`` output."""
    for record in output.split(b"\0"):
        if not record:
            continue
        head, _, path = record.partition(b"\t")
        mode, kind, object_id = head.decode().split()
        yield TreeEntry(mode, kind, object_id, path.decode("utf-8", errors="surrogateescape"))


def list_tree(commit: Commit, tree: str) -> list[TreeEntry]:
    """Every entry below ``tree`` (recursive; directories are implied by their files)."""
    return list(tree_entries(commit.git.run("ls-tree", "-r", "-z", tree).stdout))


def read_blob(commit: Commit, object_id: str) -> bytes:
    return commit.git.run("cat-file", "blob", object_id).stdout


def export_tree(commit: Commit, tree: str, target: Path, *, where: str) -> None:
    """Write ``tree``'s files under ``target`` (which must not exist) with fixed modes.

    Refuses (GitSourceError, nothing left behind by the caller's temporary directory) what a
    plugin package cannot hold: submodules (their code is not in this commit), symlinks (they
    can point anywhere) and Git LFS pointers (the file's real content is not in git).
    """
    entries = list_tree(commit, tree)
    problems = []
    for entry in entries:
        shown = f"{where}/{entry.path}" if where else entry.path
        if entry.kind == "commit":
            problems.append(f"{shown} is a git submodule: its code is not part of this commit")
        elif entry.mode == "120000":
            problems.append(f"{shown} is a symlink: a bundle holds regular files only")
    if problems:
        raise GitSourceError("cannot build from git:\n" + "\n".join(f"  - {p}" for p in problems))
    blobs = _read_blobs(commit, [entry.object_id for entry in entries])
    target.mkdir(parents=True)
    os.chmod(target, 0o755)  # noqa: S103 - a fixed mode, whatever the umask: hatchling records it
    for entry in entries:
        data = blobs[entry.object_id]
        shown = f"{where}/{entry.path}" if where else entry.path
        if data.startswith(LFS_POINTER):
            raise GitSourceError(
                f"cannot build from git: {shown} is a Git LFS pointer; the file's content is "
                "not in the repository (a plugin package keeps its files in git itself)"
            )
        path = target.joinpath(*entry.path.split("/"))
        make_parents(path.parent, target)
        path.write_bytes(data)
        # Fixed modes, whatever the umask: hatchling records them in the wheel.
        os.chmod(path, 0o755 if entry.mode == "100755" else 0o644)


def make_parents(directory: Path, top: Path) -> None:
    """``mkdir -p`` below ``top`` with mode 755 whatever the umask (hatchling records modes)."""
    missing = []
    while directory != top and not directory.exists():
        missing.append(directory)
        directory = directory.parent
    for folder in reversed(missing):
        folder.mkdir()
        os.chmod(folder, 0o755)  # noqa: S103 - as above


def _read_blobs(commit: Commit, object_ids: Sequence[str]) -> dict[str, bytes]:
    """All blobs in one ``git cat-file --batch`` (one process, not one per file)."""
    unique = sorted(set(object_ids))
    if not unique:
        return {}
    output = commit.git.run("cat-file", "--batch", input=("\n".join(unique) + "\n").encode()).stdout
    blobs: dict[str, bytes] = {}
    position = 0
    for object_id in unique:
        end = output.index(b"\n", position)
        header = output[position:end].decode().split()
        if len(header) != 3 or header[1] != "blob":
            raise GitSourceError(f"object {object_id} is missing from the fetched repository")
        size = int(header[2])
        start = end + 1
        blobs[object_id] = output[start : start + size]
        position = start + size + 1
    return blobs
