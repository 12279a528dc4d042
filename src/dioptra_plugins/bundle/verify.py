"""Complete verification of a wheel before anything trusts it.

``verify_wheel`` never stops at the first problem: it collects every one it can find and
raises a single :class:`BundleError` listing them, like pypa/installer's RECORD validation
(which it builds on for parsing RECORD rows and hashing streams).  Checks run in an order that
keeps the later ones safe: names and sizes are checked from the zip directory before a single
byte is decompressed, so a zip bomb or a hostile path is refused without being read.

It is also the one pass over a bundle's bytes at sync: given an :class:`EntrySink`, each entry is
handed to the sink chunk by chunk as it is decompressed and hashed (extraction,
:mod:`.extract`), so nothing is inflated or hashed twice.  What the sink wrote is trusted only if
no problem was found; the caller discards it otherwise.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sys
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from email.message import Message
from email.parser import Parser
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

from packaging.metadata import ExceptionGroup as MetadataExceptionGroup
from packaging.metadata import Metadata
from packaging.utils import (
    InvalidWheelFilename,
    canonicalize_name,
    canonicalize_version,
    parse_wheel_filename,
)

from dioptra_plugins.bundle.archive import (
    DAMAGED_ZIP_ERRORS,
    ancestors,
    damage,
    entry_kind_problem,
    is_dir,
    name_problems,
    package_root,
)
from dioptra_plugins.bundle.manifest import (
    MANIFEST_FILENAME,
    MAX_PACKAGE_DEPTH,
    build_manifest,
    is_import_name,
    manifest_problems,
    module_name_for,
    package_path,
)
from dioptra_plugins.bundle.record import parse_record
from dioptra_plugins.errors import BundleError, DioptraPluginsError
from dioptra_plugins.hashing import CHUNK_SIZE, record_digest, sha256_stream

if TYPE_CHECKING:
    from hashlib import _Hash

_SIGNATURES = ("RECORD.jws", "RECORD.p7s")
_SHOWN = 80
"""Longest excerpt of a hostile value quoted in a problem."""


@dataclass(frozen=True)
class Limits:
    """Bounds that keep a hostile archive from exhausting disk or memory (zip bombs)."""

    max_total_size: int = 2 * 1024**3
    """Sum of the uncompressed sizes of all entries, in bytes."""
    max_entries: int = 50_000
    max_ratio: float = 200.0
    """Largest uncompressed/compressed ratio of one entry..."""
    ratio_min_size: int = 1024 * 1024
    """...checked only for entries at least this big (small files may compress very well)."""


@dataclass(frozen=True)
class RecordedFile:
    """One file of a bundle as its RECORD lists it."""

    path: str
    sha256: str
    size: int


@dataclass(frozen=True)
class VerifiedBundle:
    """A wheel that passed every check, and what the index and sync need to know about it."""

    path: Path
    filename: str
    name: str
    version: str
    sha256: str
    size: int
    top_level: str
    """The import package it ships: ``pkg``, or ``namespace.portion`` for a namespace portion."""
    dist_info: str
    requires_dist: list[str]
    requires_python: str | None
    metadata_sha256: str
    manifest: dict[str, Any]
    files: list[RecordedFile] = field(repr=False)


class EntryStream(Protocol):
    """Where one entry's bytes go: written in order, then closed (also after a failure)."""

    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


class EntrySink(Protocol):
    """Receives the bytes of every recorded entry (and RECORD itself) as they are verified."""

    def open(self, name: str) -> EntryStream:
        """A new stream for entry ``name`` (a verified, relative posix path)."""
        ...


class _SinkFailed(Exception):
    """The sink could not take an entry (a full disk): raised as the OSError it is, never as a
    problem of the bundle."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


def _shown(text: str) -> str:
    return text if len(text) <= _SHOWN else f"{text[:_SHOWN]}..."


def _parse_headers(text: str) -> Message:
    # Parsing text, not bytes: from bytes the email package hands non-ASCII header values
    # back as Header objects instead of strings.
    return Parser().parsestr(text)


class _Verifier:
    """One verification run: collects problems into ``self.problems``."""

    def __init__(
        self,
        path: Path,
        limits: Limits,
        content: bytes | None,
        source: io.RawIOBase | None,
        sha256: str | None,
        sink: EntrySink | None,
    ) -> None:
        self.path = path
        self.limits = limits
        self.content = content
        self.source = source
        self.sha256 = sha256
        self.sink = sink
        self.problems: list[str] = []

    def fail(self, problem: str) -> None:
        self.problems.append(problem)

    def run(self) -> VerifiedBundle:
        readable: Path | io.RawIOBase | io.BytesIO = self.path
        if self.source is not None:
            readable = self.source
        elif self.content is not None:
            readable = io.BytesIO(self.content)
        elif not self.path.is_file():
            raise BundleError(str(self.path), ["no such file"])
        distribution, version = self.check_filename()
        try:
            archive = zipfile.ZipFile(readable)
        except OSError as error:
            self.fail(f"cannot read: {error}")
            raise BundleError(str(self.path), self.problems) from error
        except DAMAGED_ZIP_ERRORS as error:
            self.fail(f"not a valid zip archive: {damage(error)}")
            raise BundleError(str(self.path), self.problems) from error
        try:
            with archive:
                return self.check_archive(archive, distribution, version)
        except _SinkFailed as failed:
            raise failed.error from None
        except OSError as error:
            self.fail(f"cannot read: {error}")
        raise BundleError(str(self.path), self.problems)

    def done_or_raise(self) -> None:
        if self.problems:
            raise BundleError(str(self.path), self.problems)

    def check_filename(self) -> tuple[str, str]:
        try:
            name, version, _build, tags = parse_wheel_filename(self.path.name)
        except InvalidWheelFilename as error:
            self.fail(f"filename: {error}")
            self.done_or_raise()
            raise AssertionError("unreachable") from error
        if not any(tag.platform == "any" and tag.abi == "none" for tag in tags):
            self.fail(f"filename: {self.path.name} is not a pure-Python (none-any) wheel")
        return name, str(version)

    def check_archive(
        self, archive: zipfile.ZipFile, distribution: str, version: str
    ) -> VerifiedBundle:
        infos = archive.infolist()
        files = self.check_entries(infos)
        # Nothing is decompressed until names, kinds and sizes are known to be safe.
        self.done_or_raise()

        dist_info = self.check_dist_info_dir(files, distribution, version)
        self.done_or_raise()
        metadata_bytes = self.read(archive, f"{dist_info}/METADATA")
        self.check_wheel_file(archive, dist_info)
        metadata = self.check_metadata(metadata_bytes, distribution, version)
        recorded = self.check_record(archive, files, dist_info)
        top_level = self.check_top_level(files, dist_info)
        self.done_or_raise()
        manifest = self.read_manifest(archive, files, dist_info, top_level)
        self.done_or_raise()

        assert metadata is not None
        assert metadata_bytes is not None
        sha256, size = self.whole_file_hash()
        return VerifiedBundle(
            path=self.path,
            filename=self.path.name,
            name=canonicalize_name(distribution),
            version=canonicalize_version(version, strip_trailing_zero=False),
            sha256=sha256,
            size=size,
            top_level=top_level,
            dist_info=dist_info,
            requires_dist=[str(requirement) for requirement in metadata.requires_dist or []],
            requires_python=str(metadata.requires_python) if metadata.requires_python else None,
            metadata_sha256=hashlib.sha256(metadata_bytes).hexdigest(),
            manifest=manifest,
            files=recorded,
        )

    def whole_file_hash(self) -> tuple[str, int]:
        """(sha256, size) of the wheel: as the caller hashed it on arrival, or read again."""
        if self.content is not None:
            size = len(self.content)
            return self.sha256 or hashlib.sha256(self.content).hexdigest(), size
        if self.source is not None:
            size = self.source.seek(0, io.SEEK_END)
            if self.sha256 is not None:
                return self.sha256, size
            self.source.seek(0)
            return hashlib.file_digest(self.source, "sha256").hexdigest(), size
        if self.sha256 is not None:
            return self.sha256, self.path.stat().st_size
        with self.path.open("rb") as stream:
            return sha256_stream(stream)

    def check_entries(self, infos: list[zipfile.ZipInfo]) -> dict[str, zipfile.ZipInfo]:
        limits = self.limits
        if len(infos) > limits.max_entries:
            self.fail(f"{len(infos)} entries, more than the limit of {limits.max_entries}")
        seen: dict[str, zipfile.ZipInfo] = {}
        directories: set[str] = set()
        total = 0
        for info in infos:
            directories.update(ancestors(info.filename))
            if is_dir(info):
                directories.add(info.filename.rstrip("/"))
            name = info.filename
            # zipfile cuts names at a NUL byte; the name as stored is in orig_filename.
            self.problems.extend(name_problems(info.orig_filename))
            if kind := entry_kind_problem(info):
                self.fail(kind)
            if name in seen:
                self.fail(f"{name!r}: duplicate entry")
            total += info.file_size
            compressed = max(info.compress_size, 1)
            ratio = info.file_size / compressed
            if info.file_size >= limits.ratio_min_size and ratio > limits.max_ratio:
                self.fail(
                    f"{name!r}: compression ratio {ratio:.0f} exceeds the limit of "
                    f"{limits.max_ratio:.0f} (zip bomb?)"
                )
            if not is_dir(info):
                seen[name] = info
        if total > limits.max_total_size:
            self.fail(
                f"uncompressed size {total} bytes exceeds the limit of "
                f"{limits.max_total_size} bytes (zip bomb?)"
            )
        # Extraction would have to create the same path as a file and as a directory.
        for name in sorted(directories.intersection(seen)):
            self.fail(f"{name!r}: both a file and a directory")
        return seen

    def check_dist_info_dir(
        self, files: dict[str, zipfile.ZipInfo], distribution: str, version: str
    ) -> str:
        dist_infos = sorted({n.split("/", 1)[0] for n in files if ".dist-info/" in n})
        dist_infos = [d for d in dist_infos if d.endswith(".dist-info")]
        if len(dist_infos) != 1:
            self.fail(f"expected exactly one .dist-info directory, found {dist_infos or 'none'}")
            return ""
        dist_info = dist_infos[0]
        stem = dist_info[: -len(".dist-info")]
        di_name, _, di_version = stem.rpartition("-")
        if canonicalize_name(di_name) != canonicalize_name(distribution) or (
            canonicalize_version(di_version) != canonicalize_version(version)
        ):
            self.fail(f"{dist_info} does not match the filename ({distribution} {version})")
        for required in ("WHEEL", "METADATA", "RECORD"):
            if f"{dist_info}/{required}" not in files:
                self.fail(f"{dist_info}/{required} is missing")
        return dist_info

    def read(self, archive: zipfile.ZipFile, name: str) -> bytes | None:
        try:
            return archive.read(name)
        except KeyError as error:
            self.fail(f"{name}: cannot be read: {error}")
        except DAMAGED_ZIP_ERRORS as error:
            self.fail(f"{name}: cannot be read: {damage(error)}")
        return None

    def read_text(self, archive: zipfile.ZipFile, name: str) -> str | None:
        data = self.read(archive, name)
        if data is None:
            return None
        try:
            return data.decode("utf-8")
        except UnicodeDecodeError as error:
            self.fail(f"{name}: not UTF-8 text: {error}")
            return None

    def check_wheel_file(self, archive: zipfile.ZipFile, dist_info: str) -> None:
        text = self.read_text(archive, f"{dist_info}/WHEEL")
        if text is None:
            return
        headers = _parse_headers(text)
        wheel_version = headers.get("Wheel-Version", "")
        if not re.fullmatch(r"1\.\d+", wheel_version.strip()):
            self.fail(f"{dist_info}/WHEEL: unsupported Wheel-Version {wheel_version!r}")
        if headers.get("Root-Is-Purelib", "").strip().lower() != "true":
            self.fail(f"{dist_info}/WHEEL: Root-Is-Purelib is not true")
        if not headers.get_all("Tag"):
            self.fail(f"{dist_info}/WHEEL: no Tag")

    def check_metadata(
        self, data: bytes | None, distribution: str, version: str
    ) -> Metadata | None:
        if data is None:
            return None
        try:
            metadata = Metadata.from_email(data, validate=True)
        except MetadataExceptionGroup as group:
            for error in group.exceptions:
                self.fail(f"METADATA: {error}")
            return None
        except (ValueError, UnicodeDecodeError) as error:
            self.fail(f"METADATA: {error}")
            return None
        if canonicalize_name(metadata.name) != canonicalize_name(distribution):
            self.fail(f"METADATA: Name {metadata.name!r} does not match the filename")
        if canonicalize_version(metadata.version) != canonicalize_version(version):
            self.fail(f"METADATA: Version {metadata.version} does not match the filename")
        return metadata

    def check_record(
        self, archive: zipfile.ZipFile, files: dict[str, zipfile.ZipInfo], dist_info: str
    ) -> list[RecordedFile]:
        record_name = f"{dist_info}/RECORD"
        text = self.read_text(archive, record_name)
        if text is None:
            return []
        if self.sink is not None:
            self.give(record_name, [text.encode("utf-8")])
        parsed = parse_record(text)
        for problem in parsed.problems:
            self.fail(problem)
        entries, malformed = parsed.entries, parsed.malformed
        recorded: list[RecordedFile] = []
        for name, info in files.items():
            listed = entries.pop(name, None)
            if name == record_name or name in (f"{dist_info}/{s}" for s in _SIGNATURES):
                continue
            if listed is None:
                if name not in malformed:
                    self.fail(f"{name!r}: in the archive but not in RECORD")
                continue
            entry = listed
            if entry.hash_ is None or entry.size is None:
                self.fail(f"{name!r}: RECORD has no hash or no size")
                continue
            if entry.hash_.name != "sha256":
                self.fail(f"{name!r}: RECORD hash is {entry.hash_.name}, sha256 is required")
                continue
            if entry.size != info.file_size:
                self.fail(f"{name!r}: RECORD size {entry.size}, archive size {info.file_size}")
                continue
            try:
                digest = self.hash_entry(archive, info)
            except DAMAGED_ZIP_ERRORS as error:
                self.fail(f"{name!r}: cannot be read: {damage(error)}")
                continue
            # Compared as RECORD spells it, as pypa/installer's RecordEntry.validate does.
            if record_digest(digest.hexdigest()) != entry.hash_.value:
                self.fail(f"{name!r}: sha256 does not match RECORD")
                continue
            recorded.append(RecordedFile(name, digest.hexdigest(), entry.size))
        entries.pop(record_name, None)
        for missing in sorted(entries):
            self.fail(f"{missing!r}: listed in RECORD but not in the archive")
        return recorded

    def hash_entry(self, archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> _Hash:
        """Inflate one entry once: hash it and, with a sink, hand it the same chunks."""
        digest = hashlib.sha256()
        if info.file_size <= CHUNK_SIZE:
            chunks: Iterator[bytes] | list[bytes] = [archive.read(info)]
        else:
            chunks = self.chunks_of(archive, info)
        if self.sink is None:
            for chunk in chunks:
                digest.update(chunk)
        else:
            self.give(info.filename, chunks, digest)
        return digest

    @staticmethod
    def chunks_of(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
        with archive.open(info) as stream:
            while chunk := stream.read(CHUNK_SIZE):
                yield chunk

    def give(
        self, name: str, chunks: Iterator[bytes] | list[bytes], digest: _Hash | None = None
    ) -> None:
        """Write ``chunks`` to the sink's stream for ``name``, updating ``digest`` on the way."""
        assert self.sink is not None
        try:
            out = self.sink.open(name)
            try:
                if isinstance(chunks, list):
                    for chunk in chunks:
                        _hash_and_write(digest, out, chunk)
                else:
                    _hash_and_write_behind(chunks, digest, out)
            finally:
                out.close()
        except OSError as error:
            raise _SinkFailed(error) from error

    def check_top_level(self, files: dict[str, zipfile.ZipInfo], dist_info: str) -> str:
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
                self.fail(f"{name!r}: a top-level module; a bundle holds exactly one package")
                continue
            if head.endswith(".data"):
                self.fail(f"{name!r}: .data directories (scripts, headers) are not allowed")
                continue
            tops.add(head)
            names.append(name)
        if len(tops) != 1:
            found = ", ".join(sorted(tops)) or "none"
            self.fail(f"expected exactly one top-level package, found: {found}")
            return ""
        (top,) = tops
        if not top.isidentifier():
            self.fail(f"{top!r}: top-level directory is not an importable package name")
            return ""
        if top in sys.stdlib_module_names:
            # A plugin dir stands before the standard library on sys.path (issue 21).
            self.fail(
                f"{top!r} is the name of a standard library module: a plugin dir comes first "
                f"on sys.path, so this bundle would replace `import {top}` in every process "
                "that uses the plugin dir; rename the package"
            )
            return ""
        package = package_root(names, top, MAX_PACKAGE_DEPTH)
        if not is_import_name(package):
            self.fail(
                f"{_shown(package_path(package))!r}: the namespace portion is not an importable "
                f"package name (at most {MAX_PACKAGE_DEPTH} identifiers)"
            )
            return ""
        directory = package_path(package)
        if not any(module_name_for(name) for name in names if name.startswith(f"{directory}/")):
            self.fail(f"{directory}/ holds no importable Python module: not a plugin package")
        return package

    def read_manifest(
        self,
        archive: zipfile.ZipFile,
        files: dict[str, zipfile.ZipInfo],
        dist_info: str,
        top_level: str,
    ) -> dict[str, Any]:
        name = f"{dist_info}/{MANIFEST_FILENAME}"
        if name in files:
            data = self.read(archive, name) or b""
            try:
                manifest = json.loads(data)
            except ValueError as error:
                self.fail(f"{MANIFEST_FILENAME}: not valid JSON: {error}")
                return {}
            except RecursionError:
                self.fail(f"{MANIFEST_FILENAME}: JSON nested too deeply to read")
                return {}
            if not isinstance(manifest, dict):
                self.fail(f"{MANIFEST_FILENAME}: not a JSON object")
                return {}
            self.problems.extend(manifest_problems(manifest, top_level))
            return manifest
        # A wheel built by other tools has no manifest: read it from the sources, never import.
        reading = ""

        def sources() -> Iterator[tuple[str, bytes]]:
            nonlocal reading
            directory = package_path(top_level)
            for reading in sorted(n for n in files if n.startswith(f"{directory}/")):
                yield reading, self.read(archive, reading) or b""

        try:
            return build_manifest(top_level, sources())
        except DioptraPluginsError as error:
            self.fail(str(error))
        except (RecursionError, MemoryError):
            # CPython's parser gives up on deeply nested source with one of these; the sources
            # are untrusted, so that is a refused bundle, not a crash.
            self.fail(f"{reading}: nested too deeply to read its tasks")
        return {}


def _hash_and_write(digest: _Hash | None, out: EntryStream, chunk: bytes) -> None:
    if digest is not None:
        digest.update(chunk)
    out.write(chunk)


def _hash_and_write_behind(chunks: Iterator[bytes], digest: _Hash | None, out: EntryStream) -> None:
    """A big entry: inflate the next chunk here while a thread hashes and writes the last one.

    zlib, sha256 and ``os.write`` all release the GIL on big buffers, so on two cores the
    stages overlap; the chunks stay in order (one in flight at a time).
    """
    with ThreadPoolExecutor(max_workers=1, thread_name_prefix="hash-write") as behind:
        pending: Future[None] | None = None
        for chunk in chunks:
            if pending is not None:
                pending.result()
            pending = behind.submit(_hash_and_write, digest, out, chunk)
        if pending is not None:
            pending.result()
        # When inflating fails, leaving the block still waits for the chunk in flight.


def verify_wheel(
    path: Path | str,
    limits: Limits | None = None,
    *,
    content: bytes | None = None,
    source: io.RawIOBase | None = None,
    sha256: str | None = None,
    sink: EntrySink | None = None,
) -> VerifiedBundle:
    """Check a wheel completely; return its description or raise one BundleError with every
    problem found.

    ``path`` names the wheel (its filename is checked); ``content``, when given, is the wheel's
    bytes (``path`` need not exist then); ``source``, when given instead, is a readable, seekable
    file of them (a download still arriving: :mod:`dioptra_plugins.syncing.arriving`).
    ``sha256`` is the whole file's digest when the caller already computed it from these very
    bytes (a download hashes as it receives), so it is not read again.  With ``sink``, every
    recorded entry and RECORD are written to it as they are checked.  A failing sink raises its
    OSError; any other failure is a BundleError.
    Cost: one pass over the zip directory plus one decompression and hash of each entry (and one
    read of the whole file when neither ``content`` nor ``sha256`` is given).
    """
    return _Verifier(Path(path), limits or Limits(), content, source, sha256, sink).run()
