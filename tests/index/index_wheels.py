"""Small, valid bundles for the index tests, written directly with zipfile (fast, reproducible).

The same arguments always give the same bytes (fixed timestamps), so a test can rebuild a wheel
to get "identical bytes" and change one argument to get "different bytes, same filename".
"""

from __future__ import annotations

import base64
import hashlib
import stat
import zipfile
from collections.abc import Sequence
from pathlib import Path


def _record_hash(data: bytes) -> str:
    digest = hashlib.sha256(data).digest()
    return "sha256=" + base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def write_wheel(
    directory: Path,
    name: str,
    version: str,
    *,
    requires: Sequence[str] = (),
    requires_python: str | None = ">=3.11",
    flavour: str = "",
    tasks: int = 2,
) -> Path:
    """A bundle of the plugin package ``name`` (an identifier) with ``tasks`` task plugins."""
    dist_info = f"{name}-{version}.dist-info"
    files: dict[str, bytes] = {f"{name}/__init__.py": f'VERSION = "{version}"\n'.encode()}
    body = ["from dioptra_plugins.pyplugs import register", ""]
    for number in range(tasks):
        body += [
            "",
            "@register",
            f"def task{number}(x: int, scale: float = 1.0) -> float:",
            f'    """Task {number} of {name} {version}{flavour}."""',
            f"    return x * scale + {number}",
            "",
        ]
    files[f"{name}/tasks.py"] = "\n".join(body).encode()
    metadata = ["Metadata-Version: 2.1", f"Name: {name}", f"Version: {version}"]
    if requires_python:
        metadata.append(f"Requires-Python: {requires_python}")
    metadata += [f"Requires-Dist: {requirement}" for requirement in requires]
    files[f"{dist_info}/METADATA"] = ("\n".join(metadata) + "\n").encode()
    files[f"{dist_info}/WHEEL"] = (
        b"Wheel-Version: 1.0\nGenerator: dioptra-tests\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
    )
    rows = [f"{path},{_record_hash(data)},{len(data)}" for path, data in files.items()]
    rows.append(f"{dist_info}/RECORD,,")
    files[f"{dist_info}/RECORD"] = ("\n".join(rows) + "\n").encode()
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"{name}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(path, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        for member, data in files.items():
            info = zipfile.ZipInfo(member, date_time=(2024, 1, 1, 0, 0, 0))
            info.external_attr = (stat.S_IFREG | 0o644) << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, data)
    return path
