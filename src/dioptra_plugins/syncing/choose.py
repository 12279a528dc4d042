"""What a sync installs: the bundles its requirements resolve to, or exactly those of a lock.

Either way every package is checked for names that could become paths (a hostile index or
lock), and the set for import packages that cannot share a generation (the same module from two
bundles, a namespace portion inside another bundle's package), before anything is downloaded.
Cost: the project documents of what is chosen (fetched through the view, in parallel) and one
resolution.
"""

from __future__ import annotations

import logging
from dataclasses import replace
from typing import TYPE_CHECKING

from packaging.version import Version

from dioptra_plugins.bundle.manifest import is_import_name
from dioptra_plugins.errors import IndexFormatError, ResolutionError, SyncError
from dioptra_plugins.index.keys import bundle_key, is_normalized_name, is_sha256
from dioptra_plugins.plugindir.generations import merge_conflicts
from dioptra_plugins.plugindir.pylock import Lock, LockedPackage, bundle_url, bundle_urls
from dioptra_plugins.syncing.requirements import parse_requirements
from dioptra_plugins.syncing.resolve import Candidate, check_environment, resolve

logger = logging.getLogger(__name__)

if TYPE_CHECKING:
    from dioptra_plugins.syncing.index_view import IndexView


def choose_packages(
    view: IndexView,
    requirements: list[str],
    lock: Lock | None,
    *,
    jobs: int,
    ignore_env_deps: bool,
) -> list[LockedPackage]:
    """The packages to install: resolved from ``requirements``, or ``lock``'s exact files."""
    if lock is None:
        packages = _resolved(view, requirements, jobs, ignore_env_deps)
    else:
        packages = _locked(view, lock, jobs, ignore_env_deps)
    for package in packages:
        check_package_names(package)
    if conflicts := merge_conflicts(packages):
        raise ResolutionError(
            "these bundles cannot be installed together:\n"
            + "\n".join(f"  - {problem}" for problem in conflicts)
        )
    return packages


def check_package_names(package: LockedPackage) -> None:
    """Refuse names that would become paths outside the plugin dir (a hostile index or lock)."""
    problems = []
    if not is_normalized_name(package.name):
        problems.append(f"project name {package.name!r}")
    if not is_sha256(package.sha256):
        problems.append(f"sha256 {package.sha256!r}")
    if "/" in package.filename or "\\" in package.filename or not package.filename.endswith(".whl"):
        problems.append(f"filename {package.filename!r}")
    if not is_import_name(package.top_level):
        problems.append(f"import package {package.top_level!r}")
    if problems:
        raise IndexFormatError(f"refusing {package.filename!r}: invalid " + ", ".join(problems))


def _resolved(
    view: IndexView, requirements: list[str], jobs: int, ignore_env_deps: bool
) -> list[LockedPackage]:
    chosen = resolve(view, parse_requirements(requirements), jobs)
    check_environment(view, chosen, ignore=ignore_env_deps)
    url_of = bundle_urls(view.url)
    return [
        LockedPackage(
            name=c.name,
            version=c.file.version,
            filename=c.file.filename,
            sha256=c.file.sha256,
            size=c.file.size,
            top_level=c.file.top_level,
            index=view.url,
            url=url_of(bundle_key(c.name, c.file.filename)),
            provenance=c.file.manifest.get("provenance"),
        )
        for c in chosen
    ]


def _locked(view: IndexView, lock: Lock, jobs: int, ignore_env_deps: bool) -> list[LockedPackage]:
    """The lock's packages, after checking that the index still has each exact file.

    A lock another tool wrote names sizes and import packages loosely (or not at all): they
    are taken from the index, and its projects that the index does not have are left to the
    environment check (they are not plugin packages).  Their documents are read as a
    resolution reads them (the cache, the root's pack, then in parallel), not one by one.
    """
    view.prefetch((package.name for package in lock.packages), jobs)
    problems = []
    candidates = []
    chosen: list[LockedPackage] = []
    for package in lock.packages:
        if not view.has_project(package.name):
            if package.foreign:
                logger.info(
                    "%s %s: not in the index, left to the environment",
                    package.name,
                    package.version,
                )
                continue
            problems.append(f"{package.name}: no longer in the index")
            continue
        files = {f.filename: f for f in view.project(package.name).files}
        file = files.get(package.filename)
        if file is None:
            problems.append(f"{package.filename or package.name}: no longer in the index")
        elif file.sha256 != package.sha256 or (package.size >= 0 and file.size != package.size):
            problems.append(
                f"{package.filename}: the index now lists sha256 {file.sha256} ({file.size} "
                f"bytes), the lock {package.sha256} ({package.size} bytes)"
            )
        elif package.top_level and file.top_level != package.top_level:
            problems.append(
                f"{package.filename}: the lock names import package {package.top_level!r}, "
                f"the index {file.top_level!r}"
            )
        else:
            candidates.append(Candidate(package.name, Version(file.version), file))
            chosen.append(
                replace(
                    package,
                    index=view.url,
                    size=file.size,
                    top_level=file.top_level,
                    url=bundle_url(view.url, bundle_key(package.name, file.filename)),
                    foreign=False,
                    provenance=file.manifest.get("provenance"),
                )
            )
    if problems:
        raise SyncError(
            f"cannot reproduce the lock from {view.url}:\n"
            + "\n".join(f"  - {p}" for p in problems)
        )
    check_environment(view, candidates, ignore=ignore_env_deps)
    return chosen
