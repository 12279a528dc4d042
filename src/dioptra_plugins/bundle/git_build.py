"""Building bundles from git: a ``git+`` URL or a folder of a work tree, with provenance.

What is built is the commit's tree, exported from git objects (never the work tree, unless
``allow_dirty`` and the tree has changes), with SOURCE_DATE_EPOCH set to the commit time and
fixed file modes; the temporary directory's path, the clock, the user, the locale, the zone and
the umask never reach the wheel.  So the same URL gives the same bytes wherever and whenever it
is built, which :func:`rebuild_bundle` checks.

A subdirectory that holds a ``dioptra.toml`` (Dioptra 1.x) or a ``pyproject.toml`` with
``[tool.dioptra-plugins] packages`` declares several packages: each one is built, and a
``dioptra.toml``'s metadata goes into its manifest.  Otherwise the subdirectory is one package
(a hatchling project or a bare package folder).

Several wheels are moved into ``out_dir`` only once all of them are built: a failure leaves
nothing there.
"""

from __future__ import annotations

import contextlib
import logging
import os
import shutil
import zipfile
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath
from typing import Any

from packaging.version import InvalidVersion, Version

from dioptra_plugins.bundle import git_source
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.dioptra_toml import (
    DIOPTRA_TOML,
    Declaration,
    apply_section,
    declared_files,
    parse_dioptra_toml,
    parse_pyproject_packages,
)
from dioptra_plugins.bundle.git_source import Commit, Git, VcsUrl
from dioptra_plugins.bundle.provenance import (
    PROVENANCE_KEY,
    BuildOptions,
    Provenance,
    provenance_of,
)
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.errors import GitSourceError, RebuildMismatchError, UsageError

logger = logging.getLogger(__name__)

EMPTY_TREE = "4b825dc642cb6eb9a060e54bf8d69288fbee4904"
_SKIPPED_NAMES = ("__pycache__",)
_SKIPPED_SUFFIXES = (".pyc", ".pyo")


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


@dataclass(frozen=True)
class BuiltFromGit:
    wheel: Path
    provenance: Provenance


# --- planning ------------------------------------------------------------------------------------


def plan_packages(commit: Commit, subdirectory: str) -> list[PlannedPackage]:
    """The packages ``subdirectory`` of ``commit`` declares, or the subdirectory itself."""
    declaration, declaring = _declaration(commit, subdirectory)
    if declaration is None:
        return [PlannedPackage(subdirectory)]
    planned = []
    for package in declaration.packages:
        path = f"{subdirectory}/{package.path}" if subdirectory else package.path
        try:
            git_source.tree_id(commit, path)
        except GitSourceError as error:
            raise GitSourceError(
                f"{declaring} names {package.path!r}, which is not a folder of commit "
                f"{commit.id[:12]}: {error}"
            ) from error
        planned.append(PlannedPackage(path, package.section, declaring))
    return planned


def _declaration(commit: Commit, subdirectory: str) -> tuple[Declaration | None, str]:
    tree = git_source.tree_id(commit, subdirectory)
    names = {entry.path: entry for entry in _top_entries(commit, tree)}
    prefix = f"{subdirectory}/" if subdirectory else ""
    if DIOPTRA_TOML in names:
        where = prefix + DIOPTRA_TOML
        data = git_source.read_blob(commit, names[DIOPTRA_TOML].object_id)
        return parse_dioptra_toml(data, where), where
    if "pyproject.toml" in names:
        where = prefix + "pyproject.toml"
        data = git_source.read_blob(commit, names["pyproject.toml"].object_id)
        declared = parse_pyproject_packages(data, where)
        if declared is not None:
            return declared, where
    return None, ""


def _top_entries(commit: Commit, tree: str) -> list[git_source.TreeEntry]:
    output = commit.git.run("ls-tree", "-z", tree).stdout
    return [e for e in git_source.tree_entries(output) if e.kind == "blob"]


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
    tree = git_source.tree_id(commit, subdirectory)
    return not any(
        e.path == "pyproject.toml" or e.path.endswith(".py")
        for e in git_source.list_tree(commit, tree)
    )


# --- building ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GitBuildOptions:
    version: str | None = None
    requires: tuple[str, ...] = ()
    name: str | None = None
    namespace: str | None = None


def build_from_git(
    url: str,
    out_dir: Path,
    options: GitBuildOptions = GitBuildOptions(),
    *,
    scratch: Path | None = None,
) -> list[BuiltFromGit]:
    """Build every package ``url`` (``git+...@REF#subdirectory=DIR``) holds into ``out_dir``."""
    source = git_source.parse_vcs_url(url)
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
    ref = source.ref if requested_ref is None else requested_ref
    # Each package is built by its own hatchling process: threads build them in parallel.
    workers = max(1, min(len(planned), os.cpu_count() or 1))
    wheel_dir.mkdir(parents=True, exist_ok=True)  # before the builds: none of them owns it
    with ThreadPoolExecutor(max_workers=workers) as pool:
        futures = [
            pool.submit(
                _build_one, commit, source, package, options, wheel_dir, number, ref, dirty_tree
            )
            for number, package in enumerate(planned)
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


def _build_one(
    commit: Commit,
    source: VcsUrl,
    package: PlannedPackage,
    options: GitBuildOptions,
    wheel_dir: Path,
    number: int,
    requested_ref: str | None,
    dirty_tree: Path | None,
) -> BuiltFromGit:
    try:
        tree = git_source.tree_id(commit, package.subdirectory)
    except GitSourceError:
        if dirty_tree is None:
            raise
        tree = EMPTY_TREE  # a folder no commit has yet: only a dirty build gets here
    folder = package.folder_name or source.repository_name
    # The export's parent is numbered, its own name is the package's: a bare folder's import
    # name is its folder name, and nothing of the temporary path reaches the wheel.
    export = wheel_dir.parent / "src" / str(number) / folder
    if dirty_tree is not None:
        _copy_work_tree(dirty_tree, export)
    else:
        git_source.export_tree(commit, tree, export, where=package.subdirectory)
    if package.section is not None:
        missing = [f for f in declared_files(package.section) if not (export / f).is_file()]
        if missing:
            raise GitSourceError(
                f"{package.declared_in} declares tasks in {', '.join(missing)}, which "
                f"{package.subdirectory!r} does not hold at commit {commit.id[:12]}"
            )
    is_project = (export / "pyproject.toml").is_file()
    version = None if is_project else _version(options.version, commit, requested_ref, source)
    provenance = Provenance(
        url=source.url,
        commit=commit.id,
        requested_ref=requested_ref,
        subdirectory=package.subdirectory,
        tree=tree,
        dirty=dirty_tree is not None,
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
        wheel_dir,
        version=version,
        requires=options.requires,
        name=options.name,
        namespace=options.namespace,
        source_date_epoch=commit.time,
        finish_manifest=finish,
    )
    logger.info("built %s from %s at %s", wheel.name, source.url, commit.id)
    return BuiltFromGit(wheel, provenance)


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
        "metadata (pyproject.toml), no --version was given and no version tag (v1.2.0) "
        "points at the commit"
    )


def _copy_work_tree(files_root: Path, export: Path) -> None:
    """The files of a dirty work-tree folder that git would consider (tracked or not ignored)."""
    listing = _work_tree_files(files_root)
    export.mkdir(parents=True)
    for relative in listing:
        source = files_root / relative
        target = export / relative
        git_source.make_parents(target.parent, export)
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


# --- a folder of a work tree ---------------------------------------------------------------------


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


def build_from_work_tree(
    folder: Path,
    out_dir: Path,
    options: GitBuildOptions = GitBuildOptions(),
    *,
    allow_dirty: bool = False,
) -> list[BuiltFromGit]:
    """Build ``folder`` of a git work tree from its HEAD commit (refused when dirty, unless
    ``allow_dirty``: then the files on disk are built and ``dirty: true`` is recorded)."""
    top = work_tree_of(folder) or work_tree_of(folder.absolute().parent)
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
        changes = _changes(Git(None, home), top, subdirectory)
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


def _changes(git: Git, top: Path, subdirectory: str) -> list[str]:
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


# --- rebuilding ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class RebuildResult:
    wheel: Path
    provenance: Provenance
    rebuilt_sha256: str


def rebuild_bundle(wheel: Path, *, log: Callable[[str], None] | None = None) -> RebuildResult:
    """Fetch the commit ``wheel`` records, build it again and compare byte for byte.

    GitSourceError for a source-less or dirty bundle (nothing to compare with);
    RebuildMismatchError naming every differing file when the bytes differ.
    """
    bundle = verify_wheel(wheel)
    provenance = provenance_of(bundle.manifest)
    if provenance is None:
        raise GitSourceError(
            f"{bundle.filename} records no source (it was not built from git): nothing to "
            "rebuild it from"
        )
    if provenance.dirty:
        raise GitSourceError(
            f"{bundle.filename} was built from a dirty work tree (uncommitted changes at "
            f"{provenance.commit[:12]}): it cannot be rebuilt from its commit"
        )
    source = git_source.parse_vcs_url(provenance.url)
    source = replace(source, subdirectory=provenance.subdirectory)
    options = GitBuildOptions(
        version=provenance.build.version,
        requires=provenance.build.requires,
        name=provenance.build.name,
        namespace=provenance.build.namespace,
    )
    with git_source.scratch_directory("dioptra-rebuild-") as tmp:
        work = Path(tmp)
        commit = git_source.fetch(source, work, ref=provenance.commit)
        package = _replanned(commit, provenance)
        (rebuilt,) = build_planned(
            commit,
            replace(source, ref=provenance.requested_ref),
            [package],
            options,
            work / "wheels",
        )
        if log:
            log(f"rebuilt {rebuilt.wheel.name} from {provenance.url} at {provenance.commit}")
        new = rebuilt.wheel.read_bytes()
        old = Path(wheel).read_bytes()
        if new != old:
            raise RebuildMismatchError(bundle.filename, _differences(Path(wheel), rebuilt.wheel))
        rebuilt_sha = verify_wheel(rebuilt.wheel).sha256
    return RebuildResult(Path(wheel), provenance, rebuilt_sha)


def _replanned(commit: Commit, provenance: Provenance) -> PlannedPackage:
    declared_in = provenance.build.declared_in
    if declared_in is None:
        return PlannedPackage(provenance.subdirectory)
    folder = str(PurePosixPath(declared_in).parent)
    folder = "" if folder == "." else folder
    for package in plan_packages(commit, folder):
        if package.subdirectory == provenance.subdirectory:
            return package
    raise GitSourceError(
        f"{declared_in} at {provenance.commit[:12]} no longer declares {provenance.subdirectory!r}"
    )


def _differences(old: Path, new: Path) -> list[str]:
    with zipfile.ZipFile(old) as a, zipfile.ZipFile(new) as b:
        left = {i.filename: i for i in a.infolist()}
        right = {i.filename: i for i in b.infolist()}
        found = []
        for name in sorted(left.keys() | right.keys()):
            if name not in right:
                found.append(f"{name}: only in the bundle")
            elif name not in left:
                found.append(f"{name}: only in the rebuild")
            elif a.read(name) != b.read(name):
                found.append(f"{name}: content differs")
            elif _zip_attributes(left[name]) != _zip_attributes(right[name]):
                found.append(f"{name}: zip attributes differ (time, mode or compression)")
        if not found:
            found.append("the zip archive itself (entry order or layout) differs")
    return found


def _zip_attributes(info: zipfile.ZipInfo) -> tuple[object, ...]:
    return (info.date_time, info.external_attr, info.compress_type, info.create_system)
