"""Rebuilding a bundle from the commit its provenance records, compared byte for byte."""

from __future__ import annotations

import zipfile
from collections.abc import Callable
from dataclasses import dataclass, replace
from pathlib import Path, PurePosixPath

from dioptra_plugins.bundle import git_source, vcs_url
from dioptra_plugins.bundle.git_build import GitBuildOptions, build_planned
from dioptra_plugins.bundle.git_plan import PlannedPackage, plan_packages
from dioptra_plugins.bundle.git_source import Commit
from dioptra_plugins.bundle.provenance import Provenance, provenance_of
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.errors import GitSourceError, RebuildMismatchError


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
    source = vcs_url.parse_vcs_url(provenance.url)
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
