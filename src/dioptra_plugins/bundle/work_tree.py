"""A folder of a git work tree: where its top is, what changed, and copying its files.

A clean folder is built from its HEAD commit like any git source; a dirty one (with
``allow_dirty``) is built from the files on disk that git would consider, as listed here.
Bytecode and caches are left out of both the copy and the list of changes.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path

from dioptra_plugins.bundle import git_source, git_tree
from dioptra_plugins.bundle.git_source import Git
from dioptra_plugins.errors import GitSourceError

_SKIPPED_NAMES = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


def in_work_tree(folder: Path) -> bool:
    """Whether ``folder`` is in a git work tree, or named through one (a symlink out of a work
    tree is still a folder of it, to be refused rather than built as a loose folder)."""
    return work_tree_of(folder) is not None or work_tree_of(folder.absolute().parent) is not None


def work_tree_of(folder: Path) -> Path | None:
    """The top of the git work tree ``folder`` is in, or None when it is in none."""
    with git_source.scratch_directory("dioptra-git-") as home:
        git = Git(None, Path(home))
        result = git.run("-C", str(folder), "rev-parse", "--show-toplevel", check=False)
    if result.returncode != 0:
        return None
    return Path(result.stdout.decode().strip())


def changes(git: Git, top: Path, subdirectory: str) -> list[str]:
    """Uncommitted changes under ``subdirectory``: modified, staged, deleted or new files (not
    ignored ones, nor the bytecode and caches a build leaves out anyway)."""
    output = git.run(
        "-C",
        str(top),
        "status",
        "--porcelain=v1",
        "-z",
        "--untracked-files=all",
        "--",
        subdirectory or ".",
    ).stdout
    changes = []
    records = output.decode("utf-8", "surrogateescape").split("\0")
    skip_next = False
    for record in records:
        if skip_next or not record:
            skip_next = False
            continue
        status, path = record[:2], record[3:]
        if "R" in status or "C" in status:
            skip_next = True  # a rename's second field is the old path
        parts = path.split("/")
        if any(p in _SKIPPED_NAMES for p in parts) or path.endswith(_SKIPPED_SUFFIXES):
            continue
        changes.append(path)
    return changes


def copy_work_tree(files_root: Path, export: Path) -> None:
    """The files of a dirty work-tree folder that git would consider (tracked or not ignored)."""
    listing = _work_tree_files(files_root)
    export.mkdir(parents=True)
    for relative in listing:
        source = files_root / relative
        target = export / relative
        git_tree.make_parents(target.parent, export)
        shutil.copyfile(source, target)
        os.chmod(target, 0o755 if os.access(source, os.X_OK) else 0o644)


def _work_tree_files(folder: Path) -> list[str]:
    git = Git(None, folder)  # HOME only: the clean environment reads no user config anyway
    output = git.run(
        "-C", str(folder), "ls-files", "-z", "--cached", "--others", "--exclude-standard", "--", "."
    ).stdout
    files = []
    for name in sorted(set(output.decode("utf-8", "surrogateescape").split("\0")) - {""}):
        parts = name.split("/")
        if any(p in _SKIPPED_NAMES for p in parts) or name.endswith(_SKIPPED_SUFFIXES):
            continue
        path = folder / name
        if path.is_symlink():
            raise GitSourceError(f"{path} is a symlink: a bundle holds regular files only")
        if path.is_file():  # a deleted tracked file is listed but gone: it is not built
            files.append(name)
    return files
