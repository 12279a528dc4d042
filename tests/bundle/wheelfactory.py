"""Real wheels for tests, good or deliberately broken, written with zipfile."""

from __future__ import annotations

import base64
import hashlib
import stat
import zipfile
from dataclasses import dataclass, field
from pathlib import Path


def record_hash(data: bytes) -> str:
    return "sha256=" + base64.urlsafe_b64encode(hashlib.sha256(data).digest()).rstrip(b"=").decode()


@dataclass
class WheelSpec:
    """Everything a test may want to bend; ``write`` turns it into a real zip."""

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
        rows = []
        for name, data in files.items():
            if name in self.unrecorded:
                continue
            rows.append(self.record_overrides.get(name, f"{name},{record_hash(data)},{len(data)}"))
        rows.extend(self.extra_record_rows)
        record_name = f"{self.dist_info}/RECORD"
        rows.append(f"{record_name},,")
        if record_name not in self.omit:
            files[record_name] = ("\n".join(rows) + "\n").encode()
        with zipfile.ZipFile(path, "w", compression=self.compression) as archive:
            for name, data in files.items():
                info = zipfile.ZipInfo(name, date_time=(2020, 2, 2, 0, 0, 0))
                info.external_attr = self.modes.get(name, stat.S_IFREG | 0o644) << 16
                info.compress_type = self.compression
                archive.writestr(info, data)
        return path
