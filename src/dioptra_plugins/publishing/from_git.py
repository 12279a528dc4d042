"""Publishing straight from git: build every package a commit declares, publish what is new.

``publish_from_git(storage, "git+file:///repo@REF#subdirectory=DIR")`` fetches the commit,
finds its packages (a Dioptra 1.x ``dioptra.toml`` or ``[tool.dioptra-plugins] packages`` in
DIR, else DIR itself), and skips, before building anything, each package whose source tree the
index already has: a file of that project whose recorded provenance has the same tree id, the
same build options and the same ``dioptra.toml`` metadata would be rebuilt byte for byte but
for its version.  The rest are built reproducibly (``bundle.git_build``) and handed to the
ordinary :func:`~dioptra_plugins.publishing.publish.publish`: verified, uploaded create-only, one
compare-and-swap.  Publishing one commit twice changes nothing; a commit that changed one
package publishes one bundle.
"""

from __future__ import annotations

import logging
import os
import tomllib
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name

from dioptra_plugins.bundle import git_source, git_tree, vcs_url
from dioptra_plugins.bundle.dioptra_toml import DIOPTRA_KEY, apply_section
from dioptra_plugins.bundle.git_build import BuiltFromGit, GitBuildOptions, build_planned
from dioptra_plugins.bundle.git_plan import PlannedPackage, declared_packages
from dioptra_plugins.bundle.git_source import Commit
from dioptra_plugins.bundle.provenance import PROVENANCE_KEY
from dioptra_plugins.index.documents import ProjectDocument
from dioptra_plugins.index.reading import DocumentCache, read_root
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.publishing.publish import PublishResult, publish

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class UnchangedPackage:
    """A declared package skipped before building: the index has its tree already."""

    subdirectory: str
    name: str
    version: str
    """The version already published from the same tree."""
    tree: str


@dataclass(frozen=True)
class GitPublishResult:
    url: str
    commit: str
    unchanged: tuple[UnchangedPackage, ...]
    built: tuple[BuiltFromGit, ...]
    published: PublishResult | None
    """None when every package was unchanged (nothing built, nothing written)."""


def publish_from_git(
    storage: Storage,
    url: str,
    options: GitBuildOptions | None = None,
    *,
    dry_run: bool = False,
    sent: Callable[[int], None] | None = None,
    progress: Callable[[str], None] | None = None,
    keys: str | os.PathLike[str] | None = None,
) -> GitPublishResult:
    """Build and publish what ``url``'s commit declares; skips packages the index has.

    ``keys``: the key directory of a signed index (the signing policy of ``publish``).
    """
    options = options or GitBuildOptions()
    source = vcs_url.parse_vcs_url(url)
    with git_source.scratch_directory("dioptra-publish-git-") as tmp:
        work = Path(tmp)
        commit = git_source.fetch(source, work)
        planned = declared_packages(commit, source)
        snapshot = read_root(storage)
        cache = DocumentCache(storage)
        unchanged: list[UnchangedPackage] = []
        todo: list[PlannedPackage] = []
        for package in planned:
            found = _already_published(commit, package, options, cache, snapshot.root)
            if found is not None:
                log.info("%s: unchanged (%s %s)", package.subdirectory, found.name, found.version)
                unchanged.append(found)
                if progress:
                    progress(f"unchanged: {found.subdirectory} ({found.name} {found.version})")
            else:
                todo.append(package)
        if not todo:
            return GitPublishResult(source.url, commit.id, tuple(unchanged), (), None)
        built = build_planned(commit, source, todo, options, work / "wheels")
        result = publish(storage, [b.wheel for b in built], sent=sent, dry_run=dry_run, keys=keys)
        return GitPublishResult(source.url, commit.id, tuple(unchanged), tuple(built), result)


def _already_published(
    commit: Commit,
    package: PlannedPackage,
    options: GitBuildOptions,
    cache: DocumentCache,
    root: Any,
) -> UnchangedPackage | None:
    name = _project_name(commit, package, options)
    if name is None:
        return None
    tree = git_tree.tree_id(commit, package.subdirectory)
    document: ProjectDocument | None = cache.get(root, name)
    if document is None:
        return None
    for file in document.files:
        manifest = file.manifest
        provenance = manifest.get(PROVENANCE_KEY)
        if not isinstance(provenance, Mapping) or provenance.get("dirty") is not False:
            continue
        if provenance.get("tree") != tree or not _same_options(provenance, options, package):
            continue
        if not _same_declaration(manifest, package.section):
            continue
        return UnchangedPackage(package.subdirectory, name, file.version, tree)
    return None


def _project_name(commit: Commit, package: PlannedPackage, options: GitBuildOptions) -> str | None:
    """The project a package will be published as (None when that cannot be told unbuilt)."""
    tree = git_tree.tree_id(commit, package.subdirectory)
    for entry in git_tree.list_tree(commit, tree):
        if entry.path == "pyproject.toml":
            try:
                data = tomllib.loads(git_tree.read_blob(commit, entry.object_id).decode())
                return canonicalize_name(str(data["project"]["name"]))
            except (UnicodeDecodeError, tomllib.TOMLDecodeError, KeyError, TypeError):
                return None
    folder = package.folder_name
    if options.name:
        return canonicalize_name(options.name)
    if options.namespace:
        return canonicalize_name(f"{options.namespace}.{folder}".replace(".", "-"))
    return canonicalize_name(folder) if folder else None


def _same_options(
    provenance: Mapping[str, Any], options: GitBuildOptions, package: PlannedPackage
) -> bool:
    build = provenance.get("build")
    if not isinstance(build, Mapping):
        return False
    return (
        build.get("name") == options.name
        and build.get("namespace") == options.namespace
        and list(build.get("requires") or []) == list(options.requires)
        and build.get("declared_in") == package.declared_in
    )


def _same_declaration(manifest: Mapping[str, Any], section: Mapping[str, Any] | None) -> bool:
    stored = manifest.get(DIOPTRA_KEY)
    if section is None:
        return stored is None
    expected = apply_section({"package": manifest.get("package"), "tasks": []}, section)
    return bool(stored == expected[DIOPTRA_KEY])


def wheels_of(result: GitPublishResult) -> Sequence[Path]:
    return [b.wheel for b in result.built]
