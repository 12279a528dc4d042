"""Hostile inputs made from good ones: raw wheels, zip surgery, and the good documents.

Zip surgery edits the bytes of a real archive in place (a central directory field, a local
header, the first byte of a deflate stream) so each test names exactly the damage it makes.
"""

from __future__ import annotations

import json
import struct
import zipfile
from pathlib import Path
from typing import Any

import wheelfactory
from dioptra_plugins.index.documents import FileEntry, ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.plugindir.pylock import Lock, LockedPackage, lock_to_toml

NAME = "demo_pkg"
VERSION = "1.0"
DIST_INFO = f"{NAME}-{VERSION}.dist-info"
FILENAME = f"{NAME}-{VERSION}-py3-none-any.whl"
TASKS = f"{NAME}/tasks.py"
TASKS_SOURCE = (
    b"from dioptra_plugins import pyplugs\n\n\n@pyplugs.register\n"
    b'def double(x: int) -> int:\n    """Double x."""\n    return 2 * x\n'
) * 20  # long enough that its deflate stream is not a single tiny block

_CENTRAL = b"PK\x01\x02"
_LOCAL = b"PK\x03\x04"


def good_files() -> dict[str, bytes]:
    """The files of a small valid bundle (RECORD is added by :func:`write_wheel`)."""
    return {
        f"{NAME}/__init__.py": b"",
        TASKS: TASKS_SOURCE,
        f"{DIST_INFO}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{DIST_INFO}/METADATA": (
            f"Metadata-Version: 2.1\nName: {NAME}\nVersion: {VERSION}\nRequires-Python: >=3.11\n"
        ).encode(),
    }


def record_for(files: dict[str, bytes]) -> bytes:
    return wheelfactory.record_text(wheelfactory.record_rows(files), DIST_INFO)


def write_wheel(
    directory: Path,
    files: dict[str, bytes] | None = None,
    *,
    record: bytes | None = None,
    extra_record_rows: tuple[bytes, ...] = (),
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """A wheel of exactly these bytes; RECORD is computed unless given."""
    files = dict(good_files() if files is None else files)
    if record is None:  # extra rows after RECORD's own row, where no writer would put them
        record = record_for(files) + b"".join(row + b"\n" for row in extra_record_rows)
    return wheelfactory.write_wheel(
        directory / FILENAME, files, DIST_INFO, record=record, compression=compression
    )


# --- zip surgery -----------------------------------------------------------------------------


def data_span(path: Path, name: str) -> tuple[int, int]:
    """Where the (compressed) bytes of entry ``name`` start in the file, and how many."""
    with zipfile.ZipFile(path) as archive:
        info = archive.getinfo(name)
    data = path.read_bytes()
    offset = info.header_offset
    assert data[offset : offset + 4] == _LOCAL
    name_length, extra_length = struct.unpack("<HH", data[offset + 26 : offset + 30])
    return offset + 30 + name_length + extra_length, info.compress_size


def central_header(data: bytes, name: str) -> int:
    """Offset of the central directory record of ``name``."""
    encoded = name.encode()
    at = data.find(_CENTRAL)
    while at != -1:
        (length,) = struct.unpack("<H", data[at + 28 : at + 30])
        if data[at + 46 : at + 46 + length] == encoded:
            return at
        at = data.find(_CENTRAL, at + 4)
    raise LookupError(name)


def patch(path: Path, offset: int, new: bytes) -> None:
    data = bytearray(path.read_bytes())
    data[offset : offset + len(new)] = new
    path.write_bytes(bytes(data))


def corrupt_deflate(path: Path, name: str = TASKS) -> None:
    """Make entry ``name``'s deflate stream start with block type 3, which does not exist."""
    start, _size = data_span(path, name)
    patch(path, start, b"\xff")


def set_central_crc(path: Path, name: str, crc: int) -> None:
    patch(path, central_header(path.read_bytes(), name) + 16, struct.pack("<I", crc))


def set_central_method(path: Path, name: str, method: int) -> None:
    patch(path, central_header(path.read_bytes(), name) + 10, struct.pack("<H", method))


def set_central_version_needed(path: Path, name: str, version: int) -> None:
    patch(path, central_header(path.read_bytes(), name) + 6, struct.pack("<H", version))


def set_central_flags(path: Path, name: str, flags: int) -> None:
    patch(path, central_header(path.read_bytes(), name) + 8, struct.pack("<H", flags))


def rename_central(path: Path, name: str, new: bytes) -> None:
    """Rewrite the name of ``name`` in the central directory only (same length)."""
    assert len(new) == len(name.encode())
    patch(path, central_header(path.read_bytes(), name) + 46, new)


def break_local_header(path: Path, name: str) -> None:
    with zipfile.ZipFile(path) as archive:
        offset = archive.getinfo(name).header_offset
    patch(path, offset, b"PK\x03\x05")


def truncate_central_directory(path: Path) -> None:
    """Cut the central directory in half but keep the end record that promises all of it."""
    data = path.read_bytes()
    start = data.find(_CENTRAL)
    end_record = data[data.rfind(b"PK\x05\x06") :]
    middle = start + (len(data) - len(end_record) - start) // 2
    path.write_bytes(data[:middle] + end_record)


# --- good documents --------------------------------------------------------------------------


def file_entry(version: str = "1.0.0") -> FileEntry:
    return FileEntry(
        filename=f"demo_pkg-{version}-py3-none-any.whl",
        version=version,
        sha256="a" * 64,
        size=1234,
        requires_python=">=3.11",
        requires_dist=("numpy>=1",),
        yanked=False,
        yanked_reason=None,
        upload_time="2026-11-23T10:00:00Z",
        core_metadata_sha256="b" * 64,
        top_level="demo_pkg",
        manifest={
            "format": 1,
            "package": "demo_pkg",
            "tasks": [
                {
                    "module": "demo_pkg.tasks",
                    "function": "double",
                    "signature": "(x: int) -> int",
                    "doc": "Double x.",
                    "line": 5,
                    "sort_value": 0,
                }
            ],
        },
    )


def good_project() -> ProjectDocument:
    return ProjectDocument("demo-pkg", (file_entry("1.0.0"), file_entry("1.1.0")))


def good_root() -> RootDocument:
    return RootDocument.empty().with_projects(
        {"demo-pkg": ProjectEntry.for_document(good_project())}
    )


def good_lock() -> Lock:
    return Lock(
        packages=(
            LockedPackage(
                name="demo-pkg",
                version="1.0.0",
                filename="demo_pkg-1.0.0-py3-none-any.whl",
                sha256="c" * 64,
                size=2048,
                top_level="demo_pkg",
                index="/srv/index",
                url="file:///srv/index/bundles/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl",
            ),
        ),
        index="/srv/index",
        generation="000001",
        index_serial=3,
        requirements=("demo-pkg>=1",),
    )


def good_lock_bytes() -> bytes:
    return lock_to_toml(good_lock())


def json_document(document: ProjectDocument | RootDocument) -> Any:
    return json.loads(document.to_bytes())


GOOD_MLPROJECT = """\
name: fgm
entry_points:
  main:
    parameters:
      data_file: path
      alpha: {type: float, default: 0.1}
      output:
        type: path
        default: metrics.json
    command: "python run.py --data {data_file} --alpha {alpha} --out {output}"
"""
