"""The RECORD checks of a wheel: every entry listed once with its sha256 and size, each
entry inflated and hashed once and, with an :class:`EntrySink`, handed to the sink chunk by
chunk on the way (extraction, :mod:`.extract`), so nothing is inflated or hashed twice.

Parsing RECORD rows builds on pypa/installer (:mod:`.record`); digests are compared as RECORD
spells them.
"""

from __future__ import annotations

import hashlib
import zipfile
from collections.abc import Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass
from typing import TYPE_CHECKING, Protocol

from dioptra_plugins.bundle.archive import DAMAGED_ZIP_ERRORS, damage
from dioptra_plugins.bundle.archive_checks import read_member_text
from dioptra_plugins.bundle.record import parse_record
from dioptra_plugins.hashing import CHUNK_SIZE, record_digest

if TYPE_CHECKING:
    from hashlib import _Hash

_SIGNATURES = ("RECORD.jws", "RECORD.p7s")


@dataclass(frozen=True)
class RecordedFile:
    """One file of a bundle as its RECORD lists it, checked against the archive."""

    path: str
    sha256: str
    size: int


class EntryStream(Protocol):
    """Where one entry's bytes go: written in order, then closed (also after a failure)."""

    def write(self, data: bytes, /) -> int: ...

    def close(self) -> None: ...


class EntrySink(Protocol):
    """Receives the bytes of every recorded entry (and RECORD itself) as they are verified."""

    def open(self, name: str) -> EntryStream:
        """A new stream for entry ``name`` (a verified, relative posix path)."""
        ...


class SinkFailed(Exception):
    """The sink could not take an entry (a full disk): raised as the OSError it is, never as a
    problem of the bundle."""

    def __init__(self, error: OSError) -> None:
        super().__init__(error)
        self.error = error


def check_record(
    archive: zipfile.ZipFile,
    files: dict[str, zipfile.ZipInfo],
    dist_info: str,
    sink: EntrySink | None,
    problems: list[str],
) -> list[RecordedFile]:
    """Every file of the archive against its RECORD row (hash, size, presence), both ways."""
    record_name = f"{dist_info}/RECORD"
    text = read_member_text(archive, record_name, problems)
    if text is None:
        return []
    if sink is not None:
        give(sink, record_name, [text.encode("utf-8")])
    parsed = parse_record(text)
    problems.extend(parsed.problems)
    entries, malformed = parsed.entries, parsed.malformed
    unrecorded = {record_name, *(f"{dist_info}/{s}" for s in _SIGNATURES)}
    recorded: list[RecordedFile] = []
    for name, info in files.items():
        listed = entries.pop(name, None)
        if name in unrecorded:
            continue
        if listed is None:
            if name not in malformed:
                problems.append(f"{name!r}: in the archive but not in RECORD")
            continue
        if listed.hash_ is None or listed.size is None:
            problems.append(f"{name!r}: RECORD has no hash or no size")
            continue
        if listed.hash_.name != "sha256":
            problems.append(f"{name!r}: RECORD hash is {listed.hash_.name}, sha256 is required")
            continue
        if listed.size != info.file_size:
            problems.append(f"{name!r}: RECORD size {listed.size}, archive size {info.file_size}")
            continue
        try:
            digest = hash_entry(archive, info, sink)
        except DAMAGED_ZIP_ERRORS as error:
            problems.append(f"{name!r}: cannot be read: {damage(error)}")
            continue
        # Compared as RECORD spells it, as pypa/installer's RecordEntry.validate does.
        if record_digest(digest.hexdigest()) != listed.hash_.value:
            problems.append(f"{name!r}: sha256 does not match RECORD")
            continue
        recorded.append(RecordedFile(name, digest.hexdigest(), listed.size))
    entries.pop(record_name, None)
    for missing in sorted(entries):
        problems.append(f"{missing!r}: listed in RECORD but not in the archive")
    return recorded


def hash_entry(archive: zipfile.ZipFile, info: zipfile.ZipInfo, sink: EntrySink | None) -> _Hash:
    """Inflate one entry once: hash it and, with a sink, hand it the same chunks."""
    digest = hashlib.sha256()
    if info.file_size <= CHUNK_SIZE:
        chunks: Iterator[bytes] | list[bytes] = [archive.read(info)]
    else:
        chunks = _chunks_of(archive, info)
    if sink is None:
        for chunk in chunks:
            digest.update(chunk)
    else:
        give(sink, info.filename, chunks, digest)
    return digest


def _chunks_of(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> Iterator[bytes]:
    with archive.open(info) as stream:
        while chunk := stream.read(CHUNK_SIZE):
            yield chunk


def give(
    sink: EntrySink,
    name: str,
    chunks: Iterator[bytes] | list[bytes],
    digest: _Hash | None = None,
) -> None:
    """Write ``chunks`` to the sink's stream for ``name``, updating ``digest`` on the way."""
    try:
        out = sink.open(name)
        try:
            if isinstance(chunks, list):
                for chunk in chunks:
                    _hash_and_write(digest, out, chunk)
            else:
                _hash_and_write_behind(chunks, digest, out)
        finally:
            out.close()
    except OSError as error:
        raise SinkFailed(error) from error


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
