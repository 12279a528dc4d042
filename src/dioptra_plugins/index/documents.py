"""The index documents of format v1 (registry-index/FORMAT.md): parse, validate, serialize.

Documents are immutable values.  ``from_bytes`` checks everything a reader relies on (JSON,
format version, types, names, versions, hashes, key consistency) and raises IndexFormatError
with what was wrong; unknown keys are ignored so that later format-1 writers may add fields.
``to_bytes`` is canonical (sorted keys, no spaces) so that a document's sha256 is stable.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from packaging.utils import InvalidWheelFilename, parse_wheel_filename
from packaging.version import InvalidVersion, Version

from dioptra_plugins.bundle.manifest import is_import_name, manifest_problems
from dioptra_plugins.errors import IndexFormatError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.keys import (
    ROOT_KEY,
    is_normalized_name,
    is_sha256,
    project_document_key,
)

FORMAT_VERSION = 1
MAX_INTEGER = 2**63 - 1
"""Largest serial or size a reader accepts: sizes and offsets beyond it overflow seeks, reads
and S3's own limits, so a bigger number can only come from a damaged or hostile document."""


def canonical_json(document: Any) -> bytes:
    """The one serialization every index document is hashed in."""
    return json.dumps(document, sort_keys=True, separators=(",", ":")).encode()


def version_key(version: str) -> Version:
    """Sort key for a version string already validated by a document."""
    return Version(version)


# --- parsing helpers -------------------------------------------------------------------------


class _Reader:
    """Typed access to one JSON object, naming the document and field in every error."""

    def __init__(self, what: str, obj: object) -> None:
        if not isinstance(obj, dict):
            raise IndexFormatError(f"{what}: expected a JSON object, found {type(obj).__name__}")
        self.what = what
        self.obj: dict[str, Any] = obj

    @classmethod
    def document(cls, data: bytes, what: str, expected_sha256: str | None) -> _Reader:
        """The reader of a stored document: its sha256 checked (when one is expected), its JSON
        parsed and its format version one this code reads."""
        reader = cls(what, _load_json(data, what, expected_sha256))
        reader.format()
        return reader

    def _get(self, name: str) -> Any:
        if name not in self.obj:
            raise IndexFormatError(f"{self.what}: missing field {name!r}")
        return self.obj[name]

    def _fail(self, name: str, expected: str, value: Any) -> IndexFormatError:
        return IndexFormatError(f"{self.what}: field {name!r} must be {expected}, found {value!r}")

    def text(self, name: str) -> str:
        value = self._get(name)
        if not isinstance(value, str):
            raise self._fail(name, "a string", value)
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._get(name)
        if value is not None and not isinstance(value, str):
            raise self._fail(name, "a string or null", value)
        return value

    def integer(self, name: str) -> int:
        value = self._get(name)
        if not isinstance(value, int) or isinstance(value, bool) or value < 0:
            raise self._fail(name, "a non-negative integer", value)
        if value > MAX_INTEGER:
            raise IndexFormatError(
                f"{self.what}: field {name!r} must be a non-negative integer of at most "
                f"2**63-1, found one of {len(str(value))} digits"
            )
        return value

    def boolean(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            raise self._fail(name, "true or false", value)
        return value

    def sha256(self, name: str) -> str:
        value = self.text(name)
        if not is_sha256(value):
            raise self._fail(name, "a lower-case hex sha256", value)
        return value

    def name(self, field_name: str = "name") -> str:
        value = self.text(field_name)
        if not is_normalized_name(value):
            raise self._fail(field_name, "a PEP 503-normalized project name", value)
        return value

    def version(self, name: str) -> str:
        value = self.text(name)
        return checked_version(value, f"{self.what}: field {name!r}")

    def array(self, name: str) -> list[Any]:
        value = self._get(name)
        if not isinstance(value, list):
            raise self._fail(name, "a list", value)
        return value

    def mapping(self, name: str) -> dict[str, Any]:
        value = self._get(name)
        if not isinstance(value, dict):
            raise self._fail(name, "an object", value)
        return value

    def format(self) -> None:
        value = self._get("format")
        # ``type`` too: in Python true == 1.0 == 1, but neither is format version 1.
        if type(value) is not int or value != FORMAT_VERSION:
            raise IndexFormatError(
                f"{self.what}: unknown format version {value!r} (this dioptra-plugins reads "
                f"format {FORMAT_VERSION}; upgrade dioptra-plugins to read this index)"
            )


def checked_version(value: str, what: str) -> str:
    """``value`` if it is a valid, normalized PEP 440 version; IndexFormatError otherwise."""
    try:
        parsed = Version(value)
    except InvalidVersion:
        raise IndexFormatError(f"{what}: {value!r} is not a valid PEP 440 version") from None
    if str(parsed) != value:
        raise IndexFormatError(f"{what}: version {value!r} is not normalized ({parsed})")
    return value


def _load_json(data: bytes, what: str, expected_sha256: str | None) -> object:
    if expected_sha256 is not None:
        found = sha256_hex(data)
        if found != expected_sha256:
            raise IndexFormatError(
                f"{what}: sha256 mismatch: expected {expected_sha256}, found {found} "
                "(the document is damaged or was replaced)"
            )
    try:
        return json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise IndexFormatError(
            f"{what}: not valid JSON ({len(data)} bytes; corrupted or truncated?): {error}"
        ) from None
    except RecursionError:
        # No writer nests this deep; json gives up with RecursionError rather than ValueError.
        raise IndexFormatError(f"{what}: JSON nested too deeply ({len(data)} bytes)") from None


def _checked_filename(filename: str, what: str) -> str:
    """``filename`` if it is a plain wheel filename: it becomes a key and a cache path."""
    if (
        "/" in filename
        or "\\" in filename
        or not filename.endswith(".whl")
        or not (filename.isascii() and filename.isprintable())
    ):
        raise IndexFormatError(f"{what}: filename {filename!r} is not a wheel filename")
    try:
        parse_wheel_filename(filename)
    except InvalidWheelFilename as error:
        raise IndexFormatError(
            f"{what}: filename {filename!r} is not a wheel filename: {error}"
        ) from None
    return filename


# --- documents -------------------------------------------------------------------------------


@dataclass(frozen=True)
class FileEntry:
    """One file (bundle) of one version of a project."""

    filename: str
    version: str
    sha256: str
    size: int
    requires_python: str | None
    requires_dist: tuple[str, ...]
    yanked: bool
    yanked_reason: str | None
    upload_time: str
    core_metadata_sha256: str
    top_level: str
    manifest: Mapping[str, Any] = field(hash=False, compare=True)

    def to_json(self) -> dict[str, Any]:
        return {
            "filename": self.filename,
            "version": self.version,
            "sha256": self.sha256,
            "size": self.size,
            "requires_python": self.requires_python,
            "requires_dist": list(self.requires_dist),
            "yanked": self.yanked,
            "yanked_reason": self.yanked_reason,
            "upload_time": self.upload_time,
            "core_metadata_sha256": self.core_metadata_sha256,
            "top_level": self.top_level,
            "manifest": dict(self.manifest),
        }

    @classmethod
    def from_json(cls, obj: object, what: str) -> FileEntry:
        reader = _Reader(what, obj)
        filename = _checked_filename(reader.text("filename"), what)
        requires_dist = reader.array("requires_dist")
        if not all(isinstance(item, str) for item in requires_dist):
            raise IndexFormatError(f"{what}: requires_dist must be a list of strings")
        top_level = reader.text("top_level")
        if not is_import_name(top_level):
            # It becomes an entry link and links in every plugin dir: a dotted import name
            # (``dioptra_custom.fgm_plugins`` for a namespace portion), never a path.
            raise IndexFormatError(
                f"{what}: field 'top_level' must be an importable package name, found {top_level!r}"
            )
        manifest = reader.mapping("manifest")
        if problems := manifest_problems(manifest, top_level):
            raise IndexFormatError(f"{what}: invalid task manifest: {'; '.join(problems)}")
        return cls(
            filename=filename,
            version=reader.version("version"),
            sha256=reader.sha256("sha256"),
            size=reader.integer("size"),
            requires_python=reader.optional_text("requires_python"),
            requires_dist=tuple(requires_dist),
            yanked=reader.boolean("yanked"),
            yanked_reason=reader.optional_text("yanked_reason"),
            upload_time=reader.text("upload_time"),
            core_metadata_sha256=reader.sha256("core_metadata_sha256"),
            top_level=top_level,
            manifest=manifest,
        )


@dataclass(frozen=True)
class ProjectDocument:
    """Every file of every version of one project; immutable, stored under its own sha256."""

    name: str
    files: tuple[FileEntry, ...]

    def __post_init__(self) -> None:
        ordered = tuple(sorted(self.files, key=lambda f: (version_key(f.version), f.filename)))
        object.__setattr__(self, "files", ordered)

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": FORMAT_VERSION,
                "name": self.name,
                "files": [entry.to_json() for entry in self.files],
            }
        )

    @property
    def sha256(self) -> str:
        return sha256_hex(self.to_bytes())

    @property
    def key(self) -> str:
        return project_document_key(self.name, self.sha256)

    def versions(self) -> list[str]:
        """Distinct versions, oldest first."""
        return sorted({f.version for f in self.files}, key=version_key)

    def files_of(self, version: str) -> list[FileEntry]:
        return [f for f in self.files if f.version == version]

    def file_named(self, filename: str) -> FileEntry | None:
        return next((f for f in self.files if f.filename == filename), None)

    def latest(self) -> str | None:
        """The newest version with at least one non-yanked file; final releases win."""
        available = [v for v in self.versions() if any(not f.yanked for f in self.files_of(v))]
        finals = [v for v in available if not Version(v).is_prerelease]
        candidates = finals or available
        return candidates[-1] if candidates else None

    def with_files(self, files: Sequence[FileEntry]) -> ProjectDocument:
        return replace(self, files=tuple(files))

    @classmethod
    def from_bytes(
        cls, data: bytes, expected_sha256: str | None = None, *, what: str = "project document"
    ) -> ProjectDocument:
        reader = _Reader.document(data, what, expected_sha256)
        name = reader.name()
        files = [
            FileEntry.from_json(item, f"{what} file #{number}")
            for number, item in enumerate(reader.array("files"))
        ]
        seen: set[str] = set()
        for entry in files:
            if entry.filename in seen:
                raise IndexFormatError(f"{what}: {entry.filename} is listed twice")
            seen.add(entry.filename)
        return cls(name=name, files=tuple(files))


@dataclass(frozen=True)
class ProjectEntry:
    """The root's pointer to a project's current document."""

    document: str
    sha256: str
    latest: str | None

    def to_json(self) -> dict[str, Any]:
        return {"document": self.document, "sha256": self.sha256, "latest": self.latest}

    @classmethod
    def for_document(cls, document: ProjectDocument) -> ProjectEntry:
        return cls(document=document.key, sha256=document.sha256, latest=document.latest())


@dataclass(frozen=True)
class RootDocument:
    """``index.json``: the one mutable object, replaced only by compare-and-swap."""

    serial: int
    projects: Mapping[str, ProjectEntry]

    @classmethod
    def empty(cls) -> RootDocument:
        return cls(serial=0, projects={})

    def to_bytes(self) -> bytes:
        return canonical_json(
            {
                "format": FORMAT_VERSION,
                "serial": self.serial,
                "projects": {name: entry.to_json() for name, entry in self.projects.items()},
            }
        )

    def with_projects(self, changed: Mapping[str, ProjectEntry]) -> RootDocument:
        """The next root: ``changed`` merged in and the serial increased by exactly one."""
        return RootDocument(serial=self.serial + 1, projects={**self.projects, **changed})

    @classmethod
    def from_bytes(
        cls, data: bytes, expected_sha256: str | None = None, *, what: str = ROOT_KEY
    ) -> RootDocument:
        reader = _Reader.document(data, what, expected_sha256)
        serial = reader.integer("serial")
        projects: dict[str, ProjectEntry] = {}
        for name, item in reader.mapping("projects").items():
            entry_what = f"{what} project {name!r}"
            if not is_normalized_name(name):
                raise IndexFormatError(f"{entry_what}: not a PEP 503-normalized project name")
            entry = _Reader(entry_what, item)
            sha256 = entry.sha256("sha256")
            document = entry.text("document")
            if document != project_document_key(name, sha256):
                raise IndexFormatError(
                    f"{entry_what}: document key {document!r} does not match "
                    f"{project_document_key(name, sha256)!r}"
                )
            latest = entry.optional_text("latest")
            if latest is not None:
                checked_version(latest, f"{entry_what}: field 'latest'")
            projects[name] = ProjectEntry(document=document, sha256=sha256, latest=latest)
        return cls(serial=serial, projects=projects)
