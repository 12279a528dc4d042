"""Building a plugin package into a bundle: a reproducible wheel made by hatchling.

A project directory (with ``pyproject.toml``) is built through its PEP 517 backend, which must be
hatchling, in a subprocess; a bare package folder gets a generated hatchling project first.  A
package folder is a regular package (``__init__.py``) or a PEP 420 namespace package (no
``__init__.py``, Python modules inside, as Dioptra ships ``task-plugins/dioptra_builtins``); with
``namespace`` it is built as one portion of that namespace (``dioptra_custom`` +
``custom_fgm_plugins`` -> the portion ``dioptra_custom.custom_fgm_plugins``, project
``dioptra-custom-custom-fgm-plugins`` unless ``name`` says otherwise).  The task manifest is
then computed from the wheel's own ``.py`` files (so it describes exactly what was built) and
added to its dist-info, with RECORD updated.  Every zip entry keeps the fixed
timestamp hatchling gave it, so the same source always gives the same bytes.

A failed or interrupted build leaves nothing behind: every temporary file, hatchling's own
included (its ``TMPDIR`` is a directory of ours), lives in a temporary directory that is removed
on every way out, and ``out_dir`` is removed again if the build created it.
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import logging
import os
import re
import shutil
import tempfile
import tomllib
import zipfile
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import tomli_w
from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

from dioptra_plugins.bundle.archive import package_root
from dioptra_plugins.bundle.backend import Backends, build_once, runs_own_code
from dioptra_plugins.bundle.manifest import (
    MANIFEST_FILENAME,
    MAX_PACKAGE_DEPTH,
    build_manifest,
    is_import_name,
    package_path,
)
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.errors import BuildError, BundleError, UsageError
from dioptra_plugins.hashing import record_digest, sha256_hex

logger = logging.getLogger(__name__)

HATCHLING_BACKEND = "hatchling.build"
_IGNORED = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo", ".*")
_PROJECT_NAME = re.compile(r"[A-Za-z0-9]([A-Za-z0-9._-]*[A-Za-z0-9])?")
"""A valid project name (PEP 508); it is normalized (PEP 503) in the index."""


def build_bundle(
    src: Path,
    out_dir: Path,
    *,
    version: str | None = None,
    requires: Sequence[str] = (),
    name: str | None = None,
    namespace: str | None = None,
    source_date_epoch: int | None = None,
    finish_manifest: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
    backends: Backends | None = None,
) -> Path:
    """Build ``src`` into ``out_dir/<name>-<version>-py3-none-any.whl`` and return its path.

    ``src`` is a hatchling project directory or a bare package folder (``version`` required;
    ``name`` overrides the project name, ``namespace`` makes it a portion of that namespace).
    The wheel is verified before it is moved into ``out_dir``; a failed build leaves nothing.
    ``source_date_epoch`` fixes the zip timestamps (a git build passes its commit time);
    ``finish_manifest`` adds to the computed task manifest (provenance, ``dioptra.toml``).
    ``backends``, with ``source_date_epoch``, lends a persistent hatchling process shared with
    other builds (:class:`.backend.Backends`: a commit's many packages).
    """
    src, out_dir = Path(src).resolve(), Path(out_dir).resolve()
    options = _BareOptions(version, tuple(requires), name, namespace)
    extras = _Extras(source_date_epoch, finish_manifest, backends)
    try:
        return _build(src, out_dir, options, extras)
    except OSError as error:
        # A full disk, a read-only output dir...: one message, not a traceback.
        raise BuildError(f"cannot build {src}: {_describe_os_error(error)}") from error


@dataclass(frozen=True)
class _BareOptions:
    """What only a bare package folder takes (a project says all of it in pyproject.toml)."""

    version: str | None
    requires: tuple[str, ...]
    name: str | None
    namespace: str | None

    def given(self) -> list[str]:
        names = {
            "version": self.version is not None,
            "requires": bool(self.requires),
            "name": self.name is not None,
            "namespace": self.namespace is not None,
        }
        return [name for name, given in names.items() if given]


@dataclass(frozen=True)
class _Extras:
    """What a build from git adds: its commit time and the manifest's extra sections."""

    source_date_epoch: int | None = None
    finish_manifest: Callable[[dict[str, Any]], dict[str, Any]] | None = None
    backends: Backends | None = None


def _describe_os_error(error: OSError) -> str:
    if isinstance(error, shutil.Error) and error.args and isinstance(error.args[0], list):
        # copytree gathers (source, destination, reason) triples; the first one says enough.
        _source, destination, reason = error.args[0][0]
        return f"{destination}: {reason}"
    reason = os.strerror(error.errno).lower() if error.errno else str(error)
    return f"{error.filename}: {reason}" if error.filename else reason


def _build(src: Path, out_dir: Path, options: _BareOptions, extras: _Extras) -> Path:
    if (src / "pyproject.toml").is_file():
        if given := options.given():
            raise UsageError(
                f"{src} is a project with its own pyproject.toml: set its name, version, "
                f"packages and dependencies there, not with {'/'.join(f'`{g}`' for g in given)}",
                parameters=given,
            )
        return _build_project(src, out_dir, extras)
    if (src / "__init__.py").is_file() or _is_namespace_folder(src):
        if src.name == "src" and not (src / "__init__.py").is_file():
            # Structurally a namespace package, but almost surely a project's src layout.
            raise UsageError(
                f"{src} is a src-layout folder, not a plugin package: build the project "
                f"directory {src.parent}, or the package folder inside {src}"
            )
        if options.version is None:
            raise UsageError(
                f"{src} is a bare package folder: `version` is required", parameters=("version",)
            )
        with tempfile.TemporaryDirectory(prefix="dioptra-build-") as tmp:
            project = _generate_project(src, Path(tmp) / "project", options)
            return _build_project(project, out_dir, extras)
    raise UsageError(
        f"{src} is neither a project directory (no pyproject.toml) nor a package folder "
        "(no __init__.py, and no Python modules for a namespace package)"
    )


def _is_namespace_folder(folder: Path) -> bool:
    """A PEP 420 namespace package: an importable name, Python modules in it or below it.

    Only importable subfolders are searched (a ``.py`` in ``docs-src/`` is no module of it).
    """
    if not folder.is_dir() or not folder.name.isidentifier():
        return False
    pending = [folder]
    while pending:
        directory = pending.pop()
        for entry in sorted(directory.iterdir()):
            if entry.name.startswith((".", "__pycache__")):
                continue
            if entry.suffix == ".py" and entry.stem.isidentifier() and entry.is_file():
                return True
            if entry.is_dir() and entry.name.isidentifier() and not entry.is_symlink():
                pending.append(entry)
    return False


def _generate_project(package: Path, project: Path, options: _BareOptions) -> Path:
    folder = package.resolve().name
    if not folder.isidentifier():
        raise UsageError(f"{package}: {folder!r} is not an importable package name")
    namespace = options.namespace
    if namespace is not None and not is_import_name(namespace):
        # It becomes directories of the wheel and of every plugin dir: never a path.
        raise UsageError(
            f"`namespace` {namespace!r} is not a dotted import name (identifiers joined by '.')",
            parameters=("namespace",),
        )
    import_name = f"{namespace}.{folder}" if namespace else folder
    if not is_import_name(import_name):
        raise UsageError(f"{import_name!r} is nested deeper than {MAX_PACKAGE_DEPTH} packages")
    name = options.name
    if name is None:
        # A portion is named after its dotted path, normalized: dioptra-custom-fgm-plugins.
        name = canonicalize_name(import_name.replace(".", "-")) if namespace else folder
    if not _PROJECT_NAME.fullmatch(name):
        raise UsageError(
            f"`name` {name!r} is not a valid project name (PEP 508)", parameters=("name",)
        )
    version = options.version
    assert version is not None
    _check_parses(Version, version, "version", "a valid PEP 440 version")
    for requirement in options.requires:
        _check_parses(Requirement, requirement, "requires")
    shutil.copytree(package, project / "src" / package_path(import_name), ignore=_IGNORED)
    top = import_name.split(".", 1)[0]
    pyproject = {
        "build-system": {"requires": ["hatchling"], "build-backend": HATCHLING_BACKEND},
        "project": {
            "name": name,
            "version": version,
            "requires-python": ">=3.11",
            "dependencies": list(options.requires),
        },
        "tool": {"hatch": {"build": {"targets": {"wheel": {"packages": [f"src/{top}"]}}}}},
    }
    (project / "pyproject.toml").write_text(tomli_w.dumps(pyproject))
    return project


def _check_parses(
    parse: Callable[[str], object], value: str, parameter: str, what: str = ""
) -> None:
    """UsageError naming ``parameter`` when ``parse`` refuses ``value``: it is not ``what``, or
    (without ``what``) the parser's own reason."""
    try:
        parse(value)
    except (InvalidVersion, InvalidRequirement) as error:
        reason = f" is not {what}" if what else f": {error}"
        raise UsageError(f"`{parameter}` {value!r}{reason}", parameters=(parameter,)) from error


def _build_project(project: Path, out_dir: Path, extras: _Extras | None = None) -> Path:
    extras = extras or _Extras()
    try:
        config = tomllib.loads((project / "pyproject.toml").read_text())
    except (OSError, tomllib.TOMLDecodeError) as error:
        raise BuildError(f"{project / 'pyproject.toml'}: {error}") from error
    backend = config.get("build-system", {}).get("build-backend")
    if backend != HATCHLING_BACKEND:
        raise BuildError(
            f"{project}: build-backend is {backend!r}; bundles are built with {HATCHLING_BACKEND!r}"
        )
    created = _make_dirs(out_dir)
    try:
        with tempfile.TemporaryDirectory(prefix="dioptra-wheel-", dir=out_dir) as tmp:
            built = _run_backend(project, Path(tmp), config, extras)
            _check_pure(built)
            final = _add_manifest(built, Path(tmp) / "final", extras.finish_manifest)
            try:
                bundle = verify_wheel(final)
            except BundleError as error:
                # Name the wheel, not the temporary paths it was built in.
                problems = "\n".join(f"  - {problem}" for problem in error.problems)
                raise BuildError(f"{built.name} is not a valid bundle:\n{problems}") from error
            if not bundle.manifest.get("tasks"):
                # Not a refusal: Dioptra's own `artifacts` plugin holds only artifact classes.
                logger.warning(
                    "%s has no tasks: nothing in it is marked with register (fine for a "
                    "package of helpers or artifact classes)",
                    built.name,
                )
            target = out_dir / built.name
            os.replace(final, target)
    except BaseException:
        # Undo the mkdir too, deepest first; a directory someone else filled meanwhile stays.
        for directory in reversed(created):
            with contextlib.suppress(OSError):
                directory.rmdir()
        raise
    logger.info("built %s", target)
    return target


def _make_dirs(directory: Path) -> list[Path]:
    """``mkdir -p directory``; returns the directories it created, outermost first."""
    missing = [d for d in (directory, *directory.parents) if not d.exists()]
    directory.mkdir(parents=True, exist_ok=True)
    return missing[::-1]


def _run_backend(project: Path, wheel_dir: Path, config: dict[str, Any], extras: _Extras) -> Path:
    # PEP 517's build_wheel hook, always in a subprocess (:mod:`.backend`); a shared process
    # only for a reproducible build whose project brings no code of its own to the build.
    epoch, backends = extras.source_date_epoch, extras.backends
    if backends is not None and epoch is not None and not runs_own_code(config):
        return backends.build(project, wheel_dir, epoch)
    return build_once(project, wheel_dir, epoch)


def _check_pure(wheel: Path) -> None:
    if wheel.name.endswith("-py2.py3-none-any.whl"):
        raise BuildError(
            f"{wheel.name}: hatchling tagged it for Python 2 too; set requires-python "
            '(for example ">=3.11") in [project] so the bundle is py3-none-any'
        )
    if not wheel.name.endswith("-py3-none-any.whl"):
        raise BuildError(f"{wheel.name}: a bundle must be a pure py3-none-any wheel")


def _add_manifest(
    wheel: Path,
    out: Path,
    finish: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> Path:
    """Copy ``wheel`` adding ``<dist-info>/dioptra_plugins.json`` and its RECORD row."""
    out.mkdir()
    target = out / wheel.name
    with zipfile.ZipFile(wheel) as source:
        infos = source.infolist()
        names = [info.filename for info in infos]
        tops = sorted({n.split("/", 1)[0] for n in names if "/" in n} - _dist_infos(names))
        loose = [n for n in names if "/" not in n]
        if len(tops) != 1 or loose:
            found = ", ".join(tops + loose) or "nothing"
            raise BuildError(
                f"{wheel.name} must hold exactly one top-level package and its dist-info; "
                f"found: {found}"
            )
        files = [n for n in names if not n.endswith("/")]
        package = package_root(files, tops[0], MAX_PACKAGE_DEPTH)
        (dist_info,) = _dist_infos(names)
        directory = package_path(package)
        sources = ((n, source.read(n)) for n in files if n.startswith(f"{directory}/"))
        manifest = build_manifest(package, sources)
        if finish is not None:
            manifest = finish(manifest)
        manifest_bytes = (json.dumps(manifest, indent=2, sort_keys=True) + "\n").encode()
        record_name = f"{dist_info}/RECORD"
        record_info = source.getinfo(record_name)
        manifest_name = f"{dist_info}/{MANIFEST_FILENAME}"
        with zipfile.ZipFile(target, "w") as dest:
            for info in infos:
                if info.filename in (record_name, manifest_name):
                    continue
                # Streamed entry by entry: a bundle may hold files far larger than memory.
                with source.open(info) as reader, dest.open(info, "w") as writer:
                    shutil.copyfileobj(reader, writer, 1024 * 1024)
            manifest_info = _like(record_info, manifest_name)
            dest.writestr(manifest_info, manifest_bytes, compress_type=zipfile.ZIP_DEFLATED)
            record = _record_with(source.read(record_name), manifest_name, manifest_bytes)
            dest.writestr(record_info, record, compress_type=record_info.compress_type)
    return target


def _dist_infos(names: list[str]) -> set[str]:
    return {n.split("/", 1)[0] for n in names if n.split("/", 1)[0].endswith(".dist-info")}


def _like(template: zipfile.ZipInfo, name: str) -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name, date_time=template.date_time)
    info.external_attr = template.external_attr
    info.create_system = template.create_system
    return info


def _record_with(record: bytes, name: str, data: bytes) -> bytes:
    rows = [row for row in csv.reader(io.StringIO(record.decode())) if row and row[0] != name]
    digest = record_digest(sha256_hex(data))
    row = [name, f"sha256={digest}", str(len(data))]
    # RECORD lists itself last with no hash, as hatchling wrote it.
    own = [r for r in rows if r[0].endswith("/RECORD")]
    rows = [r for r in rows if not r[0].endswith("/RECORD")] + [row] + own
    text = io.StringIO()
    csv.writer(text, lineterminator="\n").writerows(rows)
    return text.getvalue().encode()
