"""Small, valid bundles for the index tests, written by the tests' one wheel writer.

The same arguments always give the same bytes (fixed timestamps), so a test can rebuild a wheel
to get "identical bytes" and change one argument to get "different bytes, same filename".
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import wheelfactory


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
    path = directory / f"{name}-{version}-py3-none-any.whl"
    return wheelfactory.write_wheel(path, files, dist_info, date_time=(2024, 1, 1, 0, 0, 0))
