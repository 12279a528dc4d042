"""Building bundles from git: a ``git+`` URL or a folder of a work tree, with provenance.

What is built is the commit's tree, exported from git objects (never the work tree, unless
``allow_dirty`` and the tree has changes), with SOURCE_DATE_EPOCH set to the commit time and
fixed file modes; the temporary directory's path, the clock, the user, the locale, the zone and
the umask never reach the wheel.  So the same URL gives the same bytes wherever and whenever it
is built, which :func:`.rebuild.rebuild_bundle` checks.  What a commit holds to build is planned
by :mod:`.git_plan`.

Several wheels are moved into ``out_dir`` only once all of them are built: a failure leaves
nothing there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from packaging.version import InvalidVersion, Version

from dioptra_plugins.bundle import git_source, git_tree, vcs_url, work_tree
from dioptra_plugins.bundle.backend import Backends
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.dioptra_toml import apply_section, declared_files
from dioptra_plugins.bundle.git_plan import PlannedPackage, declared_packages, plan_packages
from dioptra_plugins.bundle.git_source import Commit, Git
from dioptra_plugins.bundle.provenance import PROVENANCE_KEY, BuildOptions, Provenance
from dioptra_plugins.bundle.vcs_url import VcsUrl
from dioptra_plugins.errors import GitSourceError, UsageError

logger = logging.getLogger(__name__)

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"


@dataclass(frozen=True)
class GitBuildOptions:
    """The options of :func:`.build.build_bundle` for a bare package folder; without
    ``version``, the version tag on the commit (``v1.2.0``) gives it."""

    version: str | None = None
    requires: tuple[str, ...] = ()
    name: str | None = None
    namespace: str | None = None


@dataclass(frozen=True)
class BuiltFromGit:
    """One wheel built from a commit, and the provenance recorded in its manifest."""

    wheel: Path
    provenance: Provenance


def build_from_git(
    url: str,
    out_dir: Path,
    options: GitBuildOptions = GitBuildOptions(),
    *,
    scratch: Path | None = None,
) -> list[BuiltFromGit]:
    """Build every package ``url`` (``git+...@REF#subdirectory=DIR``) holds into ``out_dir``."""
    source = vcs_url.parse_vcs_url(url)
    with _scratch(scratch) as work:
        commit = git_source.fetch(source, work)
        planned = declared_packages(commit, source)
        built = build_planned(commit, source, planned, options, work / "wheels")
        return _deliver(built, out_dir)


def build_planned(
    commit: Commit,
    source: VcsUrl,
    planned: Sequence[PlannedPackage],
    options: GitBuildOptions,
    wheel_dir: Path,
    *,
    requested_ref: str | None = None,
    dirty_tree: Path | None = None,
) -> list[BuiltFromGit]:
    """Build each planned package of ``commit`` into ``wheel_dir`` (a fresh directory)."""
    if len(planned) > 1 and options.name is not None:
        raise UsageError(
            "`name` names one bundle; the source declares several packages", parameters=("name",)
        )
    # Threads build the packages in parallel; hatchling runs in a few persistent processes
    # (one per core) rather than one started per package: starting Python and hatchling costs
    # more than building a small package.
    workers = max(1, min(len(planned), os.cpu_count() or 1))
    wheel_dir.mkdir(parents=True, exist_ok=True)  # before the builds: none of them owns it
    with (
        contextlib.closing(Backends(workers)) as backends,
        ThreadPoolExecutor(max_workers=workers) as pool,
    ):
        job = _Job(
            commit,
            source,
            options,
            wheel_dir,
            source.ref if requested_ref is None else requested_ref,
            dirty_tree,
            backends if len(planned) > 1 else None,
        )
        futures = [
            pool.submit(_build_one, job, package, number) for number, package in enumerate(planned)
        ]
        try:
            built = [future.result() for future in futures]
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    names: dict[str, str] = {}
    for item, package in zip(built, planned, strict=True):
        if item.wheel.name in names:
            raise GitSourceError(
                f"{names[item.wheel.name]!r} and {package.subdirectory!r} both build "
                f"{item.wheel.name}: give the packages different names"
            )
        names[item.wheel.name] = package.subdirectory
    return built


@dataclass(frozen=True)
class _Job:
    """What every package of one build from a commit shares."""

    commit: Commit
    source: VcsUrl
    options: GitBuildOptions
    wheel_dir: Path
    requested_ref: str | None
    dirty_tree: Path | None
    backends: Backends | None


def _build_one(job: _Job, package: PlannedPackage, number: int) -> BuiltFromGit:
    commit, source, options, requested_ref = job.commit, job.source, job.options, job.requested_ref
    parent = job.wheel_dir.parent / "src" / str(number)
    export, tree = _export(commit, source, package, parent, job.dirty_tree)
    is_project = (export / "pyproject.toml").is_file()
    version = None if is_project else _version(options.version, commit, requested_ref, source)
    provenance = Provenance(
        url=source.url,
        commit=commit.id,
        requested_ref=requested_ref,
        subdirectory=package.subdirectory,
        tree=tree,
        dirty=job.dirty_tree is not None,
        build=BuildOptions(
            version=version,
            name=options.name,
            namespace=options.namespace,
            requires=options.requires,
            declared_in=package.declared_in,
        ),
    )
    section = package.section

    def finish(manifest: dict[str, Any]) -> dict[str, Any]:
        if section is not None:
            manifest = apply_section(manifest, section)
        return {**manifest, PROVENANCE_KEY: provenance.to_json()}

    wheel = build_bundle(
        export,
        job.wheel_dir,
        version=version,
        requires=options.requires,
        name=options.name,
        namespace=options.namespace,
        source_date_epoch=commit.time,
        finish_manifest=finish,
        backends=job.backends,
    )
    logger.info("built %s from %s at %s", wheel.name, source.url, commit.id)
    return BuiltFromGit(wheel, provenance)


def _export(
    commit: Commit, source: VcsUrl, package: PlannedPackage, parent: Path, dirty_tree: Path | None
) -> tuple[Path, str]:
    """Write the package's files under ``parent``: (the folder written, its git tree id)."""
    try:
        tree = git_tree.tree_id(commit, package.subdirectory)
    except GitSourceError:
        if dirty_tree is None:
            raise
        tree = EMPTY_TREE  # a folder no commit has yet: only a dirty build gets here
    # The export's parent is numbered, its own name is the package's: a bare folder's import
    # name is its folder name, and nothing of the temporary path reaches the wheel.
    export = parent / (package.folder_name or source.repository_name)
    if dirty_tree is not None:
        work_tree.copy_work_tree(dirty_tree, export)
    else:
        git_tree.export_tree(commit, tree, export, where=package.subdirectory)
    if package.section is not None:
        missing = [f for f in declared_files(package.section) if not (export / f).is_file()]
        if missing:
            raise GitSourceError(
                f"{package.declared_in} declares tasks in {', '.join(missing)}, which "
                f"{package.subdirectory!r} does not hold at commit {commit.id[:12]}"
            )
    return export, tree


def _version(given: str | None, commit: Commit, requested_ref: str | None, source: VcsUrl) -> str:
    if given is not None:
        return given
    tags = list(commit.tags)
    if requested_ref is not None and requested_ref in tags:
        tags = [requested_ref]  # the tag asked for wins over other tags of the same commit
    versions = []
    for tag in tags:
        text = tag[1:] if tag[:1] in ("v", "V") else tag
        try:
            versions.append((Version(text), text))
        except InvalidVersion:
            continue
    if versions:
        return max(versions)[1]
    raise UsageError(
        f"{source.url} at commit {commit.id[:12]}: no version: the package has no project "
        "metadata (pyproject.toml), no `version` was given and no version tag (v1.2.0) "
        "points at the commit",
        parameters=("version",),
    )


@contextlib.contextmanager
def _scratch(given: Path | None) -> Any:
    if given is not None:
        given.mkdir(parents=True, exist_ok=True)
        yield given
        return
    with git_source.scratch_directory("dioptra-git-") as tmp:
        yield Path(tmp)


def _deliver(built: list[BuiltFromGit], out_dir: Path) -> list[BuiltFromGit]:
    """Move every wheel into ``out_dir`` (created if needed), each with one atomic rename."""
    out_dir = out_dir.resolve()
    created = [d for d in (out_dir, *out_dir.parents) if not d.exists()][::-1]
    out_dir.mkdir(parents=True, exist_ok=True)
    delivered: list[Path] = []
    try:
        for item in built:
            partial = out_dir / f".{item.wheel.name}.partial"
            shutil.copyfile(item.wheel, partial)
            os.replace(partial, out_dir / item.wheel.name)
            delivered.append(out_dir / item.wheel.name)
    except BaseException:
        for path in delivered:
            with contextlib.suppress(OSError):
                path.unlink()
        for item in built:
            with contextlib.suppress(OSError):
                (out_dir / f".{item.wheel.name}.partial").unlink()
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    return [replace(item, wheel=path) for item, path in zip(built, delivered, strict=True)]


def build_from_work_tree(
    folder: Path,
    out_dir: Path,
    options: GitBuildOptions = GitBuildOptions(),
    *,
    allow_dirty: bool = False,
) -> list[BuiltFromGit]:
    """Build ``folder`` of a git work tree from its HEAD commit (refused when dirty, unless
    ``allow_dirty``: then the files on disk are built and ``dirty: true`` is recorded)."""
    top = work_tree.work_tree_of(folder) or work_tree.work_tree_of(folder.absolute().parent)
    if top is None:
        raise GitSourceError(f"{folder} is not inside a git work tree")
    resolved, top = folder.resolve(), top.resolve()
    if resolved != top and top not in resolved.parents:
        raise GitSourceError(f"{folder} leads out of its work tree {top} (a symlink?)")
    subdirectory = resolved.relative_to(top).as_posix() if resolved != top else ""
    with git_source.scratch_directory("dioptra-git-") as tmp:
        work = Path(tmp)
        home = work / "home"
        home.mkdir()
        commit = git_source.local_commit(top, home)
        changes = work_tree.changes(Git(None, home), top, subdirectory)
        if changes and not allow_dirty:
            more = f" and {len(changes) - 5} more" if len(changes) > 5 else ""
            shown = ", ".join(changes[:5]) + more
            raise GitSourceError(
                f"the work tree is dirty under {folder}: {shown} (commit them, or build with "
                "--allow-dirty to record dirty: true)"
            )
        source = VcsUrl(f"file://{top}", f"git+file://{top}", None, subdirectory)
        if changes:
            planned = [PlannedPackage(subdirectory)]
            built = build_planned(
                commit, source, planned, options, work / "wheels", dirty_tree=resolved
            )
        else:
            planned = plan_packages(commit, subdirectory)
            built = build_planned(commit, source, planned, options, work / "wheels")
        return _deliver(built, out_dir)
