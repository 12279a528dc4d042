"""The one wheel writer of the tests: real wheels, good or deliberately broken, with zipfile.

Fast (no build backend) and reproducible: every member gets a fixed timestamp and mode, so the
same arguments always give the same bytes; a test rebuilds a wheel to get identical bytes and
changes one argument to get other bytes under the same filename.  The RECORD hash is computed
here with hashlib and base64, not with the package's own helper, so a bug there cannot hide.

- :func:`record_hash`, :func:`record_rows` and :func:`record_text`: RECORD's pieces.
- :func:`write_zip`: exactly these members, in this order, into one archive.
- :func:`write_wheel`: files plus a computed RECORD (or one given) as a wheel.
- :class:`WheelSpec`: a small plugin bundle with every part a test may want to bend.
"""

from __future__ import annotations

import base64
import hashlib
import stat
import zipfile
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

DATE_TIME = (2020, 2, 2, 0, 0, 0)
FILE_MODE = stat.S_IFREG | 0o644


def record_hash(data: bytes) -> str:
    """RECORD's hash field for ``data``: ``sha256=`` and the urlsafe base64 digest, unpadded."""
    digest = base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()
    return f"sha256={digest}"


def record_rows(files: Mapping[str, bytes]) -> list[str]:
    """One ``path,hash,size`` row per file, in the files' order."""
    return [f"{name},{record_hash(data)},{len(data)}" for name, data in files.items()]


def record_text(rows: Iterable[str], dist_info: str) -> bytes:
    """A RECORD of ``rows`` ending with its own row (no hash, no size), one row per line."""
    return ("\n".join([*rows, f"{dist_info}/RECORD,,"]) + "\n").encode()


def write_zip(
    path: Path,
    files: Mapping[str, bytes],
    *,
    date_time: tuple[int, int, int, int, int, int] = DATE_TIME,
    modes: Mapping[str, int] | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """An archive of exactly ``files`` in their order (parent directories made as needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    modes = modes or {}
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in files.items():
            info = zipfile.ZipInfo(name, date_time=date_time)
            info.external_attr = modes.get(name, FILE_MODE) << 16
            info.compress_type = compression
            archive.writestr(info, data)
    return path


def write_wheel(
    path: Path,
    files: Mapping[str, bytes],
    dist_info: str,
    *,
    record: bytes | None = None,
    extra_rows: Iterable[str] = (),
    date_time: tuple[int, int, int, int, int, int] = DATE_TIME,
    compression: int = zipfile.ZIP_DEFLATED,
) -> Path:
    """``files`` and their RECORD (computed, with ``extra_rows`` before its own row, unless
    ``record`` gives its bytes) as the wheel ``path``; RECORD is the last member."""
    if record is None:
        record = record_text([*record_rows(files), *extra_rows], dist_info)
    members = {**files, f"{dist_info}/RECORD": record}
    return write_zip(path, members, date_time=date_time, compression=compression)


@dataclass
class WheelSpec:
    """A plugin bundle ``demo_pkg`` 1.0 by default; ``write`` turns it into a real zip."""

    name: str = "demo_pkg"
    version: str = "1.0"
    files: dict[str, bytes] = field(
        default_factory=lambda: {
            "demo_pkg/__init__.py": b"",
            "demo_pkg/tasks.py": (
                b"from dioptra_plugins import pyplugs\n\n\n@pyplugs.register\n"
                b'def double(x: int) -> int:\n    """Double x."""\n    return 2 * x\n'
            ),
        }
    )
    wheel_text: str = (
        "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    metadata_text: str | None = None
    filename: str | None = None
    extra_record_rows: list[str] = field(default_factory=list)
    record_overrides: dict[str, str] = field(default_factory=dict)
    unrecorded: set[str] = field(default_factory=set)
    modes: dict[str, int] = field(default_factory=dict)
    omit: set[str] = field(default_factory=set)
    compression: int = zipfile.ZIP_DEFLATED

    @property
    def dist_info(self) -> str:
        return f"{self.name}-{self.version}.dist-info"

    def all_files(self) -> dict[str, bytes]:
        metadata = self.metadata_text
        if metadata is None:
            metadata = (
                f"Metadata-Version: 2.1\nName: {self.name}\nVersion: {self.version}\n"
                "Requires-Python: >=3.11\nRequires-Dist: numpy>=1\n"
            )
        files = dict(self.files)
        files[f"{self.dist_info}/WHEEL"] = self.wheel_text.encode()
        files[f"{self.dist_info}/METADATA"] = metadata.encode()
        return {k: v for k, v in files.items() if k not in self.omit}

    def write(self, directory: Path) -> Path:
        path = directory / (self.filename or f"{self.name}-{self.version}-py3-none-any.whl")
        files = self.all_files()
        recorded = {name: data for name, data in files.items() if name not in self.unrecorded}
        rows = [
            self.record_overrides.get(name, row)
            for name, row in zip(recorded, record_rows(recorded), strict=True)
        ]
        record_name = f"{self.dist_info}/RECORD"
        if record_name not in self.omit:
            files[record_name] = record_text([*rows, *self.extra_record_rows], self.dist_info)
        return write_zip(path, files, modes=self.modes, compression=self.compression)
