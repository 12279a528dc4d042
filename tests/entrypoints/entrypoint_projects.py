"""Helpers for the entry point tests: projects on disk and a synced plugin dir layout."""

from __future__ import annotations

import os
import textwrap
from pathlib import Path

# A script that prints its argv (after the script name) as one JSON line.
ARGV_SCRIPT = "import json, sys\nprint('ARGV=' + json.dumps(sys.argv[1:]), flush=True)\n"


def make_project(directory: Path, mlproject: str, **files: str) -> Path:
    """Write an MLproject (dedented) and extra files into ``directory``; return it."""
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "MLproject").write_text(textwrap.dedent(mlproject), encoding="utf-8")
    for name, text in files.items():
        (directory / name).write_text(textwrap.dedent(text), encoding="utf-8")
    return directory


def add_generation(plugin_dir: Path, number: int, value: str) -> Path:
    """Lay out generation ``number`` (DESIGN §5) holding package ``demo_pkg`` with ``VALUE``.

    Written by hand in the documented on-disk shape so that the runner's tests do not depend
    on the sync implementation; the end-to-end tests use the real sync.
    """
    meta = plugin_dir / ".dioptra-plugins"
    digest = f"{number:064x}"
    package = meta / "store" / digest / "demo_pkg"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f"VALUE = {value!r}\n")
    (package / "late.py").write_text(f"VALUE = {value!r}\n")
    generation = meta / "generations" / f"{number:06d}"
    generation.mkdir(parents=True)
    (generation / "demo_pkg").symlink_to(Path("..", "..", "store", digest, "demo_pkg"))
    (generation / "pylock.toml").write_text(
        f'lock-version = "1.0"\ncreated-by = "test"\n\n[[packages]]\nname = "demo-pkg"\n'
        f'version = "{value}"\n'
    )
    tmp = meta / "current.tmp"
    tmp.symlink_to(Path("generations", generation.name))
    os.replace(tmp, meta / "current")
    entry = plugin_dir / "demo_pkg"
    if not entry.is_symlink():
        entry.symlink_to(Path(".dioptra-plugins", "current", "demo_pkg"))
    return generation
