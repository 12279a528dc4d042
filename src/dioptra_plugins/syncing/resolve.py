"""Choosing bundles: a resolvelib provider over the index's project documents.

Candidates of a project are its files whose ``requires_python`` admits this interpreter,
newest version first.  Yanked files are candidates only for a requirement that pins their
version with ``==`` (PEP 592).  Dependencies on other projects of the index are resolved too;
dependencies on anything else (numpy, ...) are *environment requirements*: they are collected
for the chosen bundles and checked against the running interpreter's installed distributions.
"""

from __future__ import annotations

import functools
import logging
import platform
from collections.abc import Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.specifiers import SpecifierSet
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version
from resolvelib import AbstractProvider, BaseReporter, Resolver
from resolvelib.resolvers import ResolutionImpossible, ResolutionTooDeep

from dioptra_plugins.bundle.runtime import RUNTIME_PROJECT
from dioptra_plugins.errors import EnvironmentRequirementError, ResolutionCause, ResolutionError
from dioptra_plugins.index.documents import FileEntry
from dioptra_plugins.syncing.index_view import IndexView

logger = logging.getLogger(__name__)

_PYTHON = Version(platform.python_version())


@dataclass(frozen=True)
class Wanted:
    """A requirement on one project of the index, and who asked for it (None: the user)."""

    name: str
    specifier: SpecifierSet
    parent: Candidate | None

    def __str__(self) -> str:
        return f"{self.name}{self.specifier}"

    def pins(self, version: Version) -> bool:
        """Whether this requirement names ``version`` exactly with ``==`` (no wildcard)."""
        return any(
            spec.operator in ("==", "===")
            and not spec.version.endswith(".*")
            and spec.contains(version, prereleases=True)
            for spec in self.specifier
        )


@dataclass(frozen=True)
class Candidate:
    name: str
    version: Version
    file: FileEntry

    def __str__(self) -> str:
        return f"{self.name} {self.version}"


@dataclass(frozen=True)
class EnvironmentNeed:
    requirement: Requirement
    needed_by: Candidate


# Cached by text: a resolution of 400 projects parses the same few versions and the same
# ``requires_python`` again and again (about 10 us each, every file of every project).
# Versions are immutable, so one parsed object may be shared.
@functools.lru_cache(maxsize=4096)
def _version(text: str) -> Version | None:
    try:
        return Version(text)
    except InvalidVersion:
        return None


def _python_ok(file: FileEntry) -> bool:
    return not file.requires_python or _admits_this_python(file.requires_python)


@functools.lru_cache(maxsize=256)
def _admits_this_python(requires_python: str) -> bool:
    try:
        return SpecifierSet(requires_python).contains(_PYTHON, prereleases=True)
    except ValueError:
        return False


def split_dependencies(
    view: IndexView, candidate: Candidate
) -> tuple[list[Wanted], list[EnvironmentNeed]]:
    """The candidate's requirements on index projects, and those on the environment."""
    wanted: list[Wanted] = []
    needs: list[EnvironmentNeed] = []
    for text in candidate.file.requires_dist:
        try:
            requirement = Requirement(text)
        except InvalidRequirement:
            logger.warning("%s: ignoring unparsable requirement %r", candidate, text)
            continue
        if requirement.marker is not None and not requirement.marker.evaluate({"extra": ""}):
            continue
        name = canonicalize_name(requirement.name)
        if view.has_project(name) and name != RUNTIME_PROJECT:
            wanted.append(Wanted(name, requirement.specifier, candidate))
        else:
            needs.append(EnvironmentNeed(requirement, candidate))
    return wanted, needs


class IndexProvider(AbstractProvider[Wanted, Candidate, str]):
    def __init__(self, view: IndexView) -> None:
        self.view = view
        # Asked once a candidate (a requirement that cannot be parsed is logged once).
        self._dependencies: dict[tuple[str, str], list[Wanted]] = {}

    def identify(self, requirement_or_candidate: Wanted | Candidate) -> str:
        return requirement_or_candidate.name

    def get_preference(self, identifier: str, *args: Any, **kwargs: Any) -> Any:
        # Resolve user-pinned and more constrained projects first; ties by name for determinism.
        return identifier

    def find_matches(
        self,
        identifier: str,
        requirements: Mapping[str, Iterator[Wanted]],
        incompatibilities: Mapping[str, Iterator[Candidate]],
    ) -> list[Candidate]:
        wants = list(requirements[identifier])
        excluded = {c.version for c in incompatibilities[identifier]}
        if not self.view.has_project(identifier):
            return []
        found: dict[Version, Candidate] = {}
        for file in sorted(self.view.project(identifier).files, key=lambda f: f.filename):
            version = _version(file.version)
            if version is None or version in excluded or version in found:
                continue
            if not all(w.specifier.contains(version, prereleases=None) for w in wants):
                continue
            if file.yanked and not any(w.pins(version) for w in wants):
                continue
            if not _python_ok(file):
                continue
            found[version] = Candidate(identifier, version, file)
        return [found[v] for v in sorted(found, reverse=True)]

    def is_satisfied_by(self, requirement: Wanted, candidate: Candidate) -> bool:
        return requirement.specifier.contains(candidate.version, prereleases=True)

    def get_dependencies(self, candidate: Candidate) -> list[Wanted]:
        key = (candidate.name, candidate.file.filename)
        wanted = self._dependencies.get(key)
        if wanted is None:
            wanted = self._dependencies[key] = split_dependencies(self.view, candidate)[0]
        return wanted


def _who(parent: Candidate | None) -> str:
    return "you" if parent is None else f"{parent.name} {parent.version}"


def _available(view: IndexView, name: str) -> str:
    if not view.has_project(name):
        return f"{name} is not in the index"
    usable, yanked = _versions(view, name)
    text = f"{name} has {', '.join(usable) if usable else 'no usable versions'}"
    if yanked:
        text += f" (yanked: {', '.join(yanked)}; pin one with == to use it)"
    return text


def _versions(view: IndexView, name: str) -> tuple[list[str], list[str]]:
    """The usable and the (only) yanked versions of project ``name`` in the index, sorted."""
    if not view.has_project(name):
        return [], []
    files = view.project(name).files
    usable = sorted({f.version for f in files if not f.yanked}, key=lambda v: _version(v) or v)
    yanked = sorted({f.version for f in files if f.yanked} - set(usable))
    return usable, yanked


def _impossible(view: IndexView, error: ResolutionImpossible[Wanted, Candidate]) -> ResolutionError:
    """resolvelib's verdict as a ResolutionError carrying its causes and the versions refused."""
    causes = [
        ResolutionCause(
            project=cause.requirement.name,
            specifier=str(cause.requirement.specifier),
            parent=None if cause.parent is None else _who(cause.parent),
        )
        for cause in error.causes
    ]
    names = list(dict.fromkeys(cause.project for cause in causes))
    versions = {name: _versions(view, name) for name in names if view.has_project(name)}
    return ResolutionError(
        _impossible_message(view, error),
        causes=causes,
        available={name: usable for name, (usable, _yanked) in versions.items()},
        yanked={name: yanked for name, (_usable, yanked) in versions.items() if yanked},
    )


def _impossible_message(view: IndexView, error: ResolutionImpossible[Wanted, Candidate]) -> str:
    lines = ["the requirements cannot all be satisfied:"]
    names: list[str] = []
    for cause in error.causes:
        requirement: Wanted = cause.requirement
        spec = str(requirement.specifier) or " (any version)"
        lines.append(
            f"  - {_who(cause.parent)} want{'' if cause.parent is None else 's'} "
            f"{requirement.name}{spec}"
        )
        if requirement.name not in names:
            names.append(requirement.name)
    lines.extend(f"  {_available(view, name)}" for name in names)
    return "\n".join(lines)


def resolve(view: IndexView, requirements: Sequence[Requirement], jobs: int = 8) -> list[Candidate]:
    """The bundles to install for ``requirements``, dependencies included, sorted by name."""
    if any(canonicalize_name(r.name) == RUNTIME_PROJECT for r in requirements):
        # An index may serve the runtime for pip and uv (publish --runtime); on a worker it is
        # the environment that runs the plugin dir, never a part of it.
        raise ResolutionError(
            f"{RUNTIME_PROJECT} is the runtime, not a plugin package: install it into the "
            "worker's environment (pip install dioptra-plugins); sync never puts it in a "
            "plugin dir"
        )
    missing = [r for r in requirements if not view.has_project(canonicalize_name(r.name))]
    if missing:
        known = ", ".join(sorted(view.root.projects)) or "none"
        raise ResolutionError(
            "not in the index "
            + view.url
            + ": "
            + ", ".join(str(r) for r in missing)
            + f" (its projects: {known})",
            missing=[str(r) for r in missing],
        )
    view.prefetch((canonicalize_name(r.name) for r in requirements), jobs)
    wants = [Wanted(canonicalize_name(r.name), r.specifier, None) for r in requirements]
    provider = IndexProvider(view)
    chosen = _without_dependencies(provider, wants)
    if chosen is None:
        chosen = _resolved(provider, view, wants)
    by_package: dict[str, Candidate] = {}
    for candidate in chosen:
        other = by_package.setdefault(candidate.file.top_level, candidate)
        if other is not candidate:
            raise ResolutionError(
                f"{other} and {candidate} both provide the import package "
                f"{candidate.file.top_level!r}; only one can be installed"
            )
    return chosen


def _resolved(provider: IndexProvider, view: IndexView, wants: list[Wanted]) -> list[Candidate]:
    """resolvelib's answer, sorted by name."""
    resolver: Resolver[Wanted, Candidate, str] = Resolver(provider, BaseReporter())
    try:
        result = resolver.resolve(wants, max_rounds=10_000)
    except ResolutionImpossible as error:
        # From the resolver's error, not None: its causes are the facts, kept as data too.
        raise _impossible(view, error) from error
    except ResolutionTooDeep as error:
        raise ResolutionError(
            f"gave up resolving after {error.round_count} rounds", rounds=error.round_count
        ) from error
    return sorted(result.mapping.values(), key=lambda c: c.name)


def _without_dependencies(provider: IndexProvider, wants: list[Wanted]) -> list[Candidate] | None:
    """resolvelib's answer when the best candidate of each wanted project depends on no other
    project of the index; None when one does (or a project has no candidate), for resolvelib.

    resolvelib checks every open requirement against the pins after each pin it makes, so a
    set of n independent projects costs it n * n checks (0.4 s for 400 bundles, most of a
    one-bundle change).  Here it is n: each project's best match, the very first candidate
    resolvelib would pin, and pins that add no requirements are never revisited.
    """
    by_name: dict[str, list[Wanted]] = {}
    for want in wants:
        by_name.setdefault(want.name, []).append(want)
    chosen = []
    for name, named in by_name.items():
        matches = provider.find_matches(name, {name: iter(named)}, {name: iter(())})
        if not matches or provider.get_dependencies(matches[0]):
            return None
        chosen.append(matches[0])
    return sorted(chosen, key=lambda c: c.name)


def environment_problems(needs: Iterable[EnvironmentNeed]) -> list[str]:
    """Each requirement the running environment does not meet, in words."""
    needs = list(needs)
    if not needs:
        return []  # importlib.metadata costs ~10 ms of start-up: only when there is a need
    from importlib.metadata import PackageNotFoundError, version

    problems = []
    for need in needs:
        requirement = need.requirement
        try:
            installed = version(requirement.name)
        except PackageNotFoundError:
            problems.append(f"{requirement} (needed by {need.needed_by}): not installed")
            continue
        if requirement.specifier and not requirement.specifier.contains(
            installed, prereleases=True
        ):
            problems.append(
                f"{requirement} (needed by {need.needed_by}): version {installed} is installed"
            )
    return problems


def check_environment(
    view: IndexView, chosen: Iterable[Candidate], *, ignore: bool = False
) -> list[str]:
    """Check the chosen bundles' non-plugin requirements; raise unless ``ignore``."""
    needs = [need for c in chosen for need in split_dependencies(view, c)[1]]
    problems = environment_problems(needs)
    if problems and not ignore:
        raise EnvironmentRequirementError(
            "the running environment lacks what these plugin packages need "
            "(install them, or pass --ignore-env-deps):\n" + "\n".join(f"  - {p}" for p in problems)
        )
    for problem in problems:
        logger.warning("environment requirement not met (ignored): %s", problem)
    return problems
