"""Complete verification of a wheel before anything trusts it.

``verify_wheel`` never stops at the first problem: it collects every one it can find and
raises a single :class:`BundleError` listing them, like pypa/installer's RECORD validation
(which it builds on for parsing RECORD rows and hashing streams).  The checks live by what they
look at: the archive itself (:mod:`.archive_checks`), RECORD against the entries
(:mod:`.record_checks`) and what the wheel says it is (:mod:`.description`).  Checks run in an
order that keeps the later ones safe: names and sizes are checked from the zip directory before
a single byte is decompressed, so a zip bomb or a hostile path is refused without being read.

It is also the one pass over a bundle's bytes at sync: given an :class:`EntrySink`, each entry is
handed to the sink chunk by chunk as it is decompressed and hashed (extraction,
:mod:`.extract`), so nothing is inflated or hashed twice.  What the sink wrote is trusted only if
no problem was found; the caller discards it otherwise.
"""

from __future__ import annotations

import hashlib
import io
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from packaging.utils import canonicalize_name, canonicalize_version

from dioptra_plugins.bundle import description
from dioptra_plugins.bundle.archive import DAMAGED_ZIP_ERRORS, damage
from dioptra_plugins.bundle.archive_checks import (
    Limits,
    check_dist_info_dir,
    check_entries,
    check_filename,
    read_member,
)
from dioptra_plugins.bundle.record_checks import (
    EntrySink,
    EntryStream,
    RecordedFile,
    SinkFailed,
    check_record,
)
from dioptra_plugins.errors import BundleError
from dioptra_plugins.hashing import sha256_hex, sha256_stream

__all__ = [
    "EntrySink",
    "EntryStream",
    "Limits",
    "RecordedFile",
    "VerifiedBundle",
    "verify_wheel",
]


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

    def run(self) -> VerifiedBundle:
        readable: Path | io.RawIOBase | io.BytesIO = self.path
        if self.source is not None:
            readable = self.source
        elif self.content is not None:
            readable = io.BytesIO(self.content)
        elif not self.path.is_file():
            raise BundleError(str(self.path), ["no such file"])
        distribution, version = check_filename(self.path, self.problems)
        try:
            archive = zipfile.ZipFile(readable)
        except OSError as error:
            self.problems.append(f"cannot read: {error}")
            raise BundleError(str(self.path), self.problems) from error
        except DAMAGED_ZIP_ERRORS as error:
            self.problems.append(f"not a valid zip archive: {damage(error)}")
            raise BundleError(str(self.path), self.problems) from error
        try:
            with archive:
                return self.check_archive(archive, distribution, version)
        except SinkFailed as failed:
            raise failed.error from None
        except OSError as error:
            self.problems.append(f"cannot read: {error}")
        raise BundleError(str(self.path), self.problems)

    def done_or_raise(self) -> None:
        if self.problems:
            raise BundleError(str(self.path), self.problems)

    def check_archive(
        self, archive: zipfile.ZipFile, distribution: str, version: str
    ) -> VerifiedBundle:
        problems = self.problems
        files = check_entries(archive.infolist(), self.limits, problems)
        # Nothing is decompressed until names, kinds and sizes are known to be safe.
        self.done_or_raise()

        dist_info = check_dist_info_dir(files, distribution, version, problems)
        self.done_or_raise()
        metadata_bytes = read_member(archive, f"{dist_info}/METADATA", problems)
        description.check_wheel_file(archive, dist_info, problems)
        metadata = description.check_metadata(metadata_bytes, distribution, version, problems)
        recorded = check_record(archive, files, dist_info, self.sink, problems)
        top_level = description.check_top_level(files, dist_info, problems)
        self.done_or_raise()
        manifest = description.read_manifest(archive, files, dist_info, top_level, problems)
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
            metadata_sha256=sha256_hex(metadata_bytes),
            manifest=manifest,
            files=recorded,
        )

    def whole_file_hash(self) -> tuple[str, int]:
        """(sha256, size) of the wheel: as the caller hashed it on arrival, or read again."""
        if self.content is not None:
            size = len(self.content)
            return self.sha256 or sha256_hex(self.content), size
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
