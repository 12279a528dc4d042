"""What a wheel says it is: its ``WHEEL`` file, its METADATA, the one import package it
ships and its task manifest (read from the sources, never imported, when it has none).

Each check appends what it finds to the run's ``problems`` list (see :mod:`.verify`).
"""

from __future__ import annotations

import json
import re
import sys
import zipfile
from collections.abc import Iterator
from email.message import Message
from email.parser import Parser
from typing import Any

from packaging.metadata import ExceptionGroup as MetadataExceptionGroup
from packaging.metadata import Metadata
from packaging.utils import canonicalize_name, canonicalize_version

from dioptra_plugins.bundle.archive import package_root
from dioptra_plugins.bundle.archive_checks import read_member, read_member_text
from dioptra_plugins.bundle.manifest import (
    MANIFEST_FILENAME,
    MAX_PACKAGE_DEPTH,
    build_manifest,
    is_import_name,
    manifest_problems,
    module_name_for,
    package_path,
)
from dioptra_plugins.errors import DioptraPluginsError

_SHOWN = 80
"""Longest excerpt of a hostile value quoted in a problem."""


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _parse_headers(text: str) -> Message:
    # Parsing text, not bytes: from bytes the email package hands non-ASCII header values
    # back as Header objects instead of strings.
    return Parser().parsestr(text)


def check_wheel_file(archive: zipfile.ZipFile, dist_info: str, problems: list[str]) -> None:
    text = read_member_text(archive, f"{dist_info}/WHEEL", problems)
    if text is None:
        return
    headers = _parse_headers(text)
    wheel_version = headers.get("Wheel-Version", "")
    if not re.fullmatch(r"1\.\d+", wheel_version.strip()):
        problems.append(f"{dist_info}/WHEEL: unsupported Wheel-Version {wheel_version!r}")
    if headers.get("Root-Is-Purelib", "").strip().lower() != "true":
        problems.append(f"{dist_info}/WHEEL: Root-Is-Purelib is not true")
    if not headers.get_all("Tag"):
        problems.append(f"{dist_info}/WHEEL: no Tag")


def check_metadata(
    data: bytes | None, distribution: str, version: str, problems: list[str]
) -> Metadata | None:
    """METADATA parsed and validated, naming the distribution and version of the filename."""
    if data is None:
        return None
    try:
        metadata = Metadata.from_email(data, validate=True)
    except MetadataExceptionGroup as group:
        problems.extend(f"METADATA: {error}" for error in group.exceptions)
        return None
    except (ValueError, UnicodeDecodeError) as error:
        problems.append(f"METADATA: {error}")
        return None
    if canonicalize_name(metadata.name) != canonicalize_name(distribution):
        problems.append(f"METADATA: Name {metadata.name!r} does not match the filename")
    if canonicalize_version(metadata.version) != canonicalize_version(version):
        problems.append(f"METADATA: Version {metadata.version} does not match the filename")
    return metadata


def check_top_level(files: dict[str, zipfile.ZipInfo], dist_info: str, problems: list[str]) -> str:
    """The one import package the wheel ships, dotted for a namespace portion.

    A regular package (``pkg/__init__.py``), a PEP 420 namespace package (no
    ``__init__.py``, as Dioptra ships ``dioptra_builtins``), or one portion of a namespace
    (``dioptra_custom/fgm_plugins/...``: :func:`package_root`).
    """
    tops: set[str] = set()
    names: list[str] = []
    for name in files:
        head, sep, _rest = name.partition("/")
        if head == dist_info:
            continue
        if not sep:
            problems.append(f"{name!r}: a top-level module; a bundle holds exactly one package")
            continue
        if head.endswith(".data"):
            problems.append(f"{name!r}: .data directories (scripts, headers) are not allowed")
            continue
        tops.add(head)
        names.append(name)
    if len(tops) != 1:
        found = ", ".join(sorted(tops)) or "none"
        problems.append(f"expected exactly one top-level package, found: {found}")
        return ""
    (top,) = tops
    if not top.isidentifier():
        problems.append(f"{top!r}: top-level directory is not an importable package name")
        return ""
    if top in sys.stdlib_module_names:
        # A plugin dir stands before the standard library on sys.path (issue 21).
        problems.append(
            f"{top!r} is the name of a standard library module: a plugin dir comes first "
            f"on sys.path, so this bundle would replace `import {top}` in every process "
            "that uses the plugin dir; rename the package"
        )
        return ""
    package = package_root(names, top, MAX_PACKAGE_DEPTH)
    if not is_import_name(package):
        problems.append(
            f"{_shown(package_path(package))!r}: the namespace portion is not an importable "
            f"package name (at most {MAX_PACKAGE_DEPTH} identifiers)"
        )
        return ""
    directory = package_path(package)
    if not any(module_name_for(name) for name in names if name.startswith(f"{directory}/")):
        problems.append(f"{directory}/ holds no importable Python module: not a plugin package")
    return package


def read_manifest(
    archive: zipfile.ZipFile,
    files: dict[str, zipfile.ZipInfo],
    dist_info: str,
    top_level: str,
    problems: list[str],
) -> dict[str, Any]:
    """The task manifest the wheel carries, or one read from its sources when it has none."""
    name = f"{dist_info}/{MANIFEST_FILENAME}"
    if name not in files:
        return _manifest_from_sources(archive, files, top_level, problems)
    data = read_member(archive, name, problems) or b""
    try:
        manifest = json.loads(data)
    except ValueError as error:
        problems.append(f"{MANIFEST_FILENAME}: not valid JSON: {error}")
        return {}
    except RecursionError:
        problems.append(f"{MANIFEST_FILENAME}: JSON nested too deeply to read")
        return {}
    if not isinstance(manifest, dict):
        problems.append(f"{MANIFEST_FILENAME}: not a JSON object")
        return {}
    problems.extend(manifest_problems(manifest, top_level))
    return manifest


def _manifest_from_sources(
    archive: zipfile.ZipFile,
    files: dict[str, zipfile.ZipInfo],
    top_level: str,
    problems: list[str],
) -> dict[str, Any]:
    # A wheel built by other tools has no manifest: read it from the sources, never import.
    reading = ""

    def sources() -> Iterator[tuple[str, bytes]]:
        nonlocal reading
        directory = package_path(top_level)
        for reading in sorted(n for n in files if n.startswith(f"{directory}/")):
            yield reading, read_member(archive, reading, problems) or b""

    try:
        return build_manifest(top_level, sources())
    except DioptraPluginsError as error:
        problems.append(str(error))
    except (RecursionError, MemoryError):
        # CPython's parser gives up on deeply nested source with one of these; the sources
        # are untrusted, so that is a refused bundle, not a crash.
        problems.append(f"{reading}: nested too deeply to read its tasks")
    return {}
