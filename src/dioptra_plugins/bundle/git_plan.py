"""What one commit of a git source holds to build: its declared packages, or one folder.

A subdirectory that holds a ``dioptra.toml`` (Dioptra 1.x) or a ``pyproject.toml`` with
``[tool.dioptra-plugins] packages`` declares several packages, and a ``dioptra.toml``'s metadata
goes into each one's manifest.  Otherwise the subdirectory is one package (a hatchling project or
a bare package folder).  Planning reads git objects only; nothing is exported or built.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import PurePosixPath
from typing import Any

from dioptra_plugins.bundle import git_tree
from dioptra_plugins.bundle.dioptra_toml import (
    DIOPTRA_TOML,
    Declaration,
    parse_dioptra_toml,
    parse_pyproject_packages,
)
from dioptra_plugins.bundle.git_source import Commit
from dioptra_plugins.bundle.vcs_url import VcsUrl
from dioptra_plugins.errors import GitSourceError


@dataclass(frozen=True)
class PlannedPackage:
    """One package a commit holds: where, and what its declaration says about it."""

    subdirectory: str
    """Repository-relative folder of the package (or project)."""
    section: Mapping[str, Any] | None = None
    declared_in: str | None = None

    @property
    def folder_name(self) -> str:
        return PurePosixPath(self.subdirectory).name


def plan_packages(commit: Commit, subdirectory: str) -> list[PlannedPackage]:
    """The packages ``subdirectory`` of ``commit`` declares, or the subdirectory itself."""
    declaration, declaring = _declaration(commit, subdirectory)
    if declaration is None:
        return [PlannedPackage(subdirectory)]
    planned = []
    for package in declaration.packages:
        path = f"{subdirectory}/{package.path}" if subdirectory else package.path
        try:
            git_tree.tree_id(commit, path)
        except GitSourceError as error:
            raise GitSourceError(
                f"{declaring} names {package.path!r}, which is not a folder of commit "
                f"{commit.id[:12]}: {error}"
            ) from error
        planned.append(PlannedPackage(path, package.section, declaring))
    return planned


def _declaration(commit: Commit, subdirectory: str) -> tuple[Declaration | None, str]:
    tree = git_tree.tree_id(commit, subdirectory)
    names = {entry.path: entry for entry in _top_entries(commit, tree)}
    prefix = f"{subdirectory}/" if subdirectory else ""
    if DIOPTRA_TOML in names:
        where = prefix + DIOPTRA_TOML
        data = git_tree.read_blob(commit, names[DIOPTRA_TOML].object_id)
        return parse_dioptra_toml(data, where), where
    if "pyproject.toml" in names:
        where = prefix + "pyproject.toml"
        data = git_tree.read_blob(commit, names["pyproject.toml"].object_id)
        declared = parse_pyproject_packages(data, where)
        if declared is not None:
            return declared, where
    return None, ""


def _top_entries(commit: Commit, tree: str) -> list[git_tree.TreeEntry]:
    output = commit.git.run("ls-tree", "-z", tree).stdout
    return [e for e in git_tree.tree_entries(output) if e.kind == "blob"]


def declared_packages(commit: Commit, source: VcsUrl) -> list[PlannedPackage]:
    """The packages ``commit`` declares under ``source``'s subdirectory; GitSourceError when
    it declares none and holds nothing that builds on its own."""
    planned = plan_packages(commit, source.subdirectory)
    if planned == [PlannedPackage(source.subdirectory)] and declares_nothing(
        commit, source.subdirectory
    ):
        where = source.subdirectory or "the repository root"
        raise GitSourceError(
            f"{source.url}: {where} at commit {commit.id[:12]} declares no plugin package "
            f"(no {DIOPTRA_TOML}, no [tool.dioptra-plugins] packages, no pyproject.toml "
            "and no Python modules)"
        )
    return planned


def declares_nothing(commit: Commit, subdirectory: str) -> bool:
    """Whether ``subdirectory`` is neither a declaring folder nor something buildable."""
    tree = git_tree.tree_id(commit, subdirectory)
    return not any(
        e.path == "pyproject.toml" or e.path.endswith(".py")
        for e in git_tree.list_tree(commit, tree)
    )
