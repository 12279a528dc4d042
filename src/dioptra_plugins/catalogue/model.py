"""What the catalogue shows of a project, derived from its project document alone.

Everything here comes from bundles, so nothing in it is trusted: a view only holds text, and
the renderer escapes every piece of it.  A task's parameters and declared types are read from
the manifest's signature string with :func:`ast.parse` (parsed, never executed); a signature
that does not parse is shown as it is, without a parameter table.
"""

from __future__ import annotations

import ast
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dioptra_plugins.index.documents import FileEntry, ProjectDocument

MAX_SIGNATURE = 4_000
"""Longest signature parsed into parameters: a longer one (only a hostile bundle writes one)
is shown as text, so parsing stays cheap and shallow."""
MAX_TEXT = 2_000
"""Longest piece of bundle text (docstring, provenance field) kept in a view."""
_HEX = re.compile(r"^[0-9a-fA-F]{7,64}$")
# No credentials, no query or fragment, and none of the characters that could end an attribute
# or a tag even if escaping were forgotten.
_WEB_URL = re.compile(r"^https?://[^\s/?#@\"'<>\\`]+(/[^\s?#\"'<>\\`]*)?$")


@dataclass(frozen=True)
class Parameter:
    name: str
    kind: str
    """How it is passed: ``positional-only``, ``positional or keyword``, ``*args``,
    ``keyword-only`` or ``**kwargs``."""
    annotation: str | None
    default: str | None


@dataclass(frozen=True)
class Declared:
    """A parameter a Dioptra 1.x ``dioptra.toml`` declares for a task (its own type names)."""

    name: str
    type: str
    required: bool | None
    """Inputs only: Dioptra's ``required`` (None for outputs)."""


@dataclass(frozen=True)
class Artifact:
    """An artifact task a ``dioptra.toml`` declares (a class, not a registered function)."""

    module: str
    name: str
    outputs: tuple[Declared, ...]


@dataclass(frozen=True)
class Task:
    module: str
    function: str
    signature: str
    doc: str
    line: int | None
    is_class: bool
    label: str | None
    parameters: tuple[Parameter, ...] | None
    """None when the signature did not parse."""
    returns: str | None
    inputs: tuple[Declared, ...] = ()
    """What a ``dioptra.toml`` declares for the task, when the bundle was built from one."""
    outputs: tuple[Declared, ...] = ()

    @property
    def anchor(self) -> str:
        """The fragment of this task on its project page (module and function are identifiers,
        so the id holds no space or quote)."""
        return f"task-{self.module}.{self.function}"


@dataclass(frozen=True)
class Provenance:
    """Where a bundle was built from, as far as the bundle says (a colleague's feature: read
    defensively, every field optional)."""

    repository: str | None
    repository_href: str | None
    """The repository when it is a web URL (the only kind linked)."""
    commit: str | None
    commit_href: str | None
    ref: str | None
    subdirectory: str | None
    dirty: bool | None
    other: tuple[tuple[str, str], ...]


@dataclass(frozen=True)
class File:
    filename: str
    size: int
    sha256: str
    upload_time: str
    requires_python: str | None
    requires_dist: tuple[str, ...]
    provenance: Provenance | None


@dataclass(frozen=True)
class Release:
    version: str
    yanked: bool
    yanked_reason: str | None
    files: tuple[File, ...]
    tasks: tuple[Task, ...]
    description: str = ""
    """A ``dioptra.toml``'s description of the plugin."""
    artifacts: tuple[Artifact, ...] = ()
    param_types: tuple[tuple[str, str], ...] = ()
    """A ``dioptra.toml``'s ``plugin_param_types``: (name, description)."""


@dataclass(frozen=True)
class Project:
    name: str
    latest: str | None
    """The version ``sync`` would pick by default (None: every version is yanked)."""
    releases: tuple[Release, ...]
    """Newest first."""

    @property
    def shown(self) -> Release | None:
        """The release whose tasks the home page and the search describe: the latest, else the
        newest one (a project whose every version is yanked still has tasks to look at)."""
        for release in self.releases:
            if release.version == self.latest:
                return release
        return self.releases[0] if self.releases else None

    @property
    def summary(self) -> str:
        """The project's one line: the first task's docstring (documents carry no summary),
        else the names of its first tasks (Dioptra's examples have no docstrings)."""
        shown = self.shown
        if shown is None:
            return ""
        if shown.description:
            return shown.description
        doc = next((task.doc for task in shown.tasks if task.doc), "")
        if doc or not shown.tasks:
            return doc
        names = ", ".join(task.function for task in shown.tasks[:3])
        return f"Tasks {names}{', ...' if len(shown.tasks) > 3 else ''}"


def project_view(document: ProjectDocument) -> Project:
    releases = []
    for version in reversed(document.versions()):
        files = document.files_of(version)
        yanked = all(f.yanked for f in files)
        reasons = sorted({f.yanked_reason for f in files if f.yanked and f.yanked_reason})
        releases.append(
            Release(
                version=version,
                yanked=yanked,
                yanked_reason="; ".join(reasons) or None,
                files=tuple(_file(f) for f in files),
                tasks=_tasks(files[0].manifest) if files else (),
                **(_dioptra_section(files[0].manifest) if files else {}),
            )
        )
    return Project(name=document.name, latest=document.latest(), releases=tuple(releases))


def _file(entry: FileEntry) -> File:
    return File(
        filename=entry.filename,
        size=entry.size,
        sha256=entry.sha256,
        upload_time=entry.upload_time,
        requires_python=entry.requires_python,
        requires_dist=entry.requires_dist,
        provenance=provenance_of(entry),
    )


def _tasks(manifest: Mapping[str, Any]) -> tuple[Task, ...]:
    tasks = []
    for item in manifest.get("tasks", []):
        if not isinstance(item, Mapping):
            continue
        signature = _text(item.get("signature")) or "()"
        parameters, returns = parse_signature(signature)
        line = item.get("line")
        label = item.get("label")
        tasks.append(
            Task(
                module=_text(item.get("module")),
                function=_text(item.get("function")),
                signature=signature,
                doc=_text(item.get("doc")),
                line=line if isinstance(line, int) and not isinstance(line, bool) else None,
                is_class=item.get("kind") == "class",
                label=label if isinstance(label, str) else None,
                parameters=parameters,
                returns=returns,
                inputs=_declared(item.get("input_params"), inputs=True),
                outputs=_declared(item.get("output_params"), inputs=False),
            )
        )
    return tuple(tasks)


def _declared(value: object, *, inputs: bool) -> tuple[Declared, ...]:
    if not isinstance(value, list):
        return ()
    found = []
    for item in value[:200]:
        if isinstance(item, Mapping) and isinstance(item.get("name"), str):
            required = item.get("required")
            found.append(
                Declared(
                    name=_text(item.get("name"), 200),
                    type=_text(item.get("type"), 200),
                    required=required if inputs and isinstance(required, bool) else None,
                )
            )
    return tuple(found)


def _dioptra_section(manifest: Mapping[str, Any]) -> dict[str, Any]:
    """The ``dioptra`` section a build from a Dioptra 1.x ``dioptra.toml`` adds to a manifest
    (a colleague's feature: read defensively, every field optional)."""
    section = manifest.get("dioptra")
    if not isinstance(section, Mapping):
        return {}
    artifacts = []
    raw_artifacts = section.get("artifacts")
    for item in raw_artifacts if isinstance(raw_artifacts, list) else []:
        if isinstance(item, Mapping):
            artifacts.append(
                Artifact(
                    module=_text(item.get("module"), 200),
                    name=_text(item.get("class") or item.get("name"), 200),
                    outputs=_declared(item.get("output_params"), inputs=False),
                )
            )
    types = section.get("plugin_param_types")
    return {
        "description": _text(section.get("description")),
        "artifacts": tuple(artifacts),
        "param_types": tuple(
            (_text(item.get("name"), 200), _text(item.get("description")))
            for item in (types if isinstance(types, list) else [])
            if isinstance(item, Mapping) and isinstance(item.get("name"), str)
        ),
    }


def _text(value: object, limit: int = MAX_TEXT) -> str:
    return value[:limit] if isinstance(value, str) else ""


def parse_signature(signature: str) -> tuple[tuple[Parameter, ...] | None, str | None]:
    """The parameters and return annotation of ``(a: int=1, *, b) -> str``; (None, None) when
    the text is not a Python signature.  Only parsed: nothing of it runs."""
    if len(signature) > MAX_SIGNATURE:
        return None, None
    try:
        tree = ast.parse(f"def _{signature}: pass")
    except (SyntaxError, ValueError, RecursionError, MemoryError):
        return None, None
    function = tree.body[0] if len(tree.body) == 1 else None
    if not isinstance(function, ast.FunctionDef):
        return None, None
    arguments = function.args
    parameters: list[Parameter] = []
    positional = [*arguments.posonlyargs, *arguments.args]
    # Defaults belong to the last positional parameters.
    defaults: list[ast.expr | None] = [None] * (len(positional) - len(arguments.defaults))
    defaults.extend(arguments.defaults)
    for index, (argument, default) in enumerate(zip(positional, defaults, strict=True)):
        kind = "positional-only" if index < len(arguments.posonlyargs) else "positional or keyword"
        parameters.append(_parameter(argument, kind, default))
    if arguments.vararg is not None:
        parameters.append(_parameter(arguments.vararg, "*args", None))
    for argument, kw_default in zip(arguments.kwonlyargs, arguments.kw_defaults, strict=True):
        parameters.append(_parameter(argument, "keyword-only", kw_default))
    if arguments.kwarg is not None:
        parameters.append(_parameter(arguments.kwarg, "**kwargs", None))
    returns = _unparse(function.returns)
    return tuple(parameters), returns


def _parameter(argument: ast.arg, kind: str, default: ast.expr | None) -> Parameter:
    return Parameter(argument.arg, kind, _unparse(argument.annotation), _unparse(default))


def _unparse(node: ast.expr | None) -> str | None:
    if node is None:
        return None
    try:
        return ast.unparse(node)
    except (ValueError, RecursionError):
        return None


_PROVENANCE_FIELDS = {
    "repository": ("url", "repository", "repo_url", "repository_url"),
    "commit": ("commit", "commit_id", "revision"),
    "ref": ("requested_revision", "ref", "requested_ref"),
    "subdirectory": ("subdirectory", "subdir"),
}


def provenance_of(entry: FileEntry) -> Provenance | None:
    """The provenance a file entry carries (an attribute of the entry, or a ``provenance``
    object in its manifest), or None.  Unknown shapes are tolerated: only strings and booleans
    are kept, and only ``http(s)`` repositories become links."""
    raw = getattr(entry, "provenance", None)
    if not isinstance(raw, Mapping):
        raw = entry.manifest.get("provenance")
    if not isinstance(raw, Mapping):
        return None
    raw = dict(raw)
    vcs_info = raw.get("vcs_info")
    if isinstance(vcs_info, Mapping):  # PEP 610's direct_url.json shape
        raw = {**{k: v for k, v in vcs_info.items() if k not in raw}, **raw}
    found: dict[str, str | None] = {}
    used: set[str] = set()
    for field_name, names in _PROVENANCE_FIELDS.items():
        found[field_name] = None
        for name in names:
            value = raw.get(name)
            if isinstance(value, str) and value:
                found[field_name] = value[:MAX_TEXT]
                used.add(name)
                break
    dirty = raw.get("dirty")
    used.update({"dirty", "vcs_info"})
    other = tuple(
        (str(key)[:100], str(value)[:MAX_TEXT])
        for key, value in sorted(raw.items(), key=lambda item: str(item[0]))
        if key not in used and isinstance(value, str | bool | int | float)
    )
    repository, commit = found["repository"], found["commit"]
    repository_href = _web_url(repository)
    commit_href = None
    if repository_href:
        repository_href = repository_href.removesuffix("/").removesuffix(".git")
        if commit and _HEX.match(commit):
            # The commit page of GitHub, GitLab, Gitea and Bitbucket alike.
            commit_href = f"{repository_href}/commit/{commit}"
    return Provenance(
        repository=repository,
        repository_href=repository_href,
        commit=commit,
        commit_href=commit_href,
        ref=found["ref"],
        subdirectory=found["subdirectory"],
        dirty=dirty if isinstance(dirty, bool) else None,
        other=other,
    )


def _web_url(url: str | None) -> str | None:
    """``url`` when it is a plain http(s) URL with no credentials; None otherwise (a
    ``javascript:`` or ``file:`` URL from a bundle never becomes a link)."""
    if url is None:
        return None
    url = url.removeprefix("git+")
    return url if _WEB_URL.match(url) else None


def search_entries(projects: Sequence[Project]) -> list[dict[str, Any]]:
    """One entry per task of each project's shown release: what the home page's search
    filters (project, task, module, docstring, parameter names) and where it links."""
    entries = []
    for project in projects:
        shown = project.shown
        if shown is None:
            continue
        for task in shown.tasks:
            entries.append(
                {
                    "project": project.name,
                    "version": shown.version,
                    "module": task.module,
                    "task": task.function,
                    "doc": task.doc,
                    "params": [p.name for p in task.parameters or ()]
                    + [d.name for d in task.inputs if d.name not in task_names(task)],
                    "signature": task.signature,
                    "href": f"{project.name}.html#{task.anchor}",
                }
            )
    return entries


def task_names(task: Task) -> set[str]:
    """The parameter names of ``task``'s signature."""
    return {p.name for p in task.parameters or ()}
