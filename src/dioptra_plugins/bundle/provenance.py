"""Where a bundle came from: the commit it was built from, stored inside the bundle.

The provenance is the ``provenance`` object of the task manifest
(``<dist-info>/dioptra_plugins.json``), so it is covered by RECORD, by the bundle's sha256 in
the index and, on a signed index, by the signature: it cannot be changed without changing the
bundle.  It says how to build the bundle again (``inspect --rebuild``):

- ``vcs`` (``"git"``), ``url`` (pip's ``git+`` form, never with a user or password),
- ``commit`` (the full id), ``requested_ref`` (what the builder asked for: a branch, tag,
  abbreviated id, or null for the default branch or a work tree's HEAD),
- ``subdirectory`` (``/``-separated, ``""`` for the repository root) and ``tree`` (the git
  tree id of that subdirectory at the commit: equal trees build equal bundles),
- ``dirty`` (true when uncommitted changes were built with ``--allow-dirty``: such a bundle
  cannot be rebuilt from its commit),
- ``build``: the options a bare package folder needs (``version``, ``name``, ``namespace``,
  ``requires``) and ``declared_in``, the ``dioptra.toml`` that declared it, if any.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, fields
from typing import Any

from dioptra_plugins.bundle.vcs_url import checked_subdirectory, parse_vcs_url
from dioptra_plugins.errors import UsageError

PROVENANCE_KEY = "provenance"
_OBJECT_ID = re.compile(r"[0-9a-f]{40}|[0-9a-f]{64}")


def _fields_of(obj: BuildOptions | Provenance) -> dict[str, Any]:
    """Each field of ``obj`` by name, in declaration order (values as they are)."""
    return {item.name: getattr(obj, item.name) for item in fields(obj)}


@dataclass(frozen=True)
class BuildOptions:
    version: str | None = None
    name: str | None = None
    namespace: str | None = None
    requires: tuple[str, ...] = ()
    declared_in: str | None = None
    """Repository path of the ``dioptra.toml`` whose metadata went into the manifest."""

    def to_json(self) -> dict[str, Any]:
        return {**_fields_of(self), "requires": list(self.requires)}


@dataclass(frozen=True)
class Provenance:
    url: str
    commit: str
    requested_ref: str | None
    subdirectory: str
    tree: str
    dirty: bool
    build: BuildOptions = field(default_factory=BuildOptions)
    vcs: str = "git"

    def to_json(self) -> dict[str, Any]:
        # ``vcs`` leads, as a reader expects; the manifest itself is written with sorted keys.
        return {"vcs": self.vcs, **_fields_of(self), "build": self.build.to_json()}

    @classmethod
    def from_json(cls, obj: Mapping[str, Any]) -> Provenance:
        """From a manifest's provenance object that :func:`provenance_problems` accepted."""
        build = obj.get("build") or {}
        return cls(
            url=obj["url"],
            commit=obj["commit"],
            requested_ref=obj.get("requested_ref"),
            subdirectory=obj["subdirectory"],
            tree=obj["tree"],
            dirty=obj["dirty"],
            build=BuildOptions(
                version=build.get("version"),
                name=build.get("name"),
                namespace=build.get("namespace"),
                requires=tuple(build.get("requires") or ()),
                declared_in=build.get("declared_in"),
            ),
            vcs=obj["vcs"],
        )


def provenance_of(manifest: Mapping[str, Any]) -> Provenance | None:
    """The provenance a verified bundle's manifest records, or None for a source-less bundle."""
    obj = manifest.get(PROVENANCE_KEY)
    if not isinstance(obj, Mapping) or provenance_problems(obj):
        return None
    return Provenance.from_json(obj)


def provenance_problems(obj: object) -> list[str]:
    """Why a manifest's provenance object is malformed (empty when it is well formed)."""
    where = f"{PROVENANCE_KEY}:"
    if not isinstance(obj, Mapping):
        return [f"{where} not an object"]
    problems = []
    if obj.get("vcs") != "git":
        problems.append(f"{where} unknown vcs {obj.get('vcs')!r}")
    url = obj.get("url")
    if not isinstance(url, str) or not url.startswith("git+"):
        problems.append(f"{where} 'url' is not a git+ URL")
    elif re.search(r"://[^/]*@", url):
        problems.append(f"{where} 'url' carries credentials")
    else:
        # What a rebuild will fetch: one of the schemes a build accepts, nothing more.
        try:
            parsed = parse_vcs_url(url)
        except UsageError:
            parsed = None
        if parsed is None or parsed.url != url:
            problems.append(f"{where} 'url' is not a plain git+file/https/http/ssh URL")
    for key in ("commit", "tree"):
        value = obj.get(key)
        if not isinstance(value, str) or not _OBJECT_ID.fullmatch(value):
            problems.append(f"{where} {key!r} is not a full git object id")
    subdirectory = obj.get("subdirectory")
    if not isinstance(subdirectory, str) or not _inside(subdirectory):
        problems.append(f"{where} 'subdirectory' is not a path inside the repository")
    ref = obj.get("requested_ref")
    if ref is not None and not isinstance(ref, str):
        problems.append(f"{where} 'requested_ref' is neither a string nor null")
    if not isinstance(obj.get("dirty"), bool):
        problems.append(f"{where} 'dirty' is not a boolean")
    build = obj.get("build", {})
    if not isinstance(build, Mapping):
        problems.append(f"{where} 'build' is not an object")
    else:
        for key in ("version", "name", "namespace", "declared_in"):
            if build.get(key) is not None and not isinstance(build[key], str):
                problems.append(f"{where} build.{key} is neither a string nor null")
        declared_in = build.get("declared_in")
        if isinstance(declared_in, str) and not (declared_in and _inside(declared_in)):
            problems.append(f"{where} build.declared_in is not a path inside the repository")
        requires = build.get("requires", [])
        if not isinstance(requires, list) or not all(isinstance(r, str) for r in requires):
            problems.append(f"{where} build.requires is not a list of strings")
    return problems


def _inside(path: str) -> bool:
    """Whether ``path`` is already in the normal form of a path inside a repository."""
    try:
        return checked_subdirectory(path) == path
    except UsageError:
        return False


def summary(provenance: Mapping[str, Any] | None) -> str:
    """One short line for tables: ``git 5ff20c18b2a1 extra/plugins/hello_world (dirty)``."""
    if not provenance:
        return "-"
    text = f"git {str(provenance.get('commit', ''))[:12]}"
    if provenance.get("subdirectory"):
        text += f" {provenance['subdirectory']}"
    if provenance.get("dirty"):
        text += " (dirty)"
    return text
