"""Make the shipped plugin packages importable from their source trees, for these tests only.

The source folders go on ``sys.path`` while this directory's test modules are collected (they
import the plugin functions at module level). Once collection is over the folders and the
imported plugin modules are taken out again, so that tests elsewhere that install, sync or
reload ``dioptra_builtins`` see their own copy, never this one.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

PLUGIN_PACKAGES = Path(__file__).resolve().parents[2] / "plugin-packages"
SOURCE_DIRS = [str(path) for path in sorted(PLUGIN_PACKAGES.glob("*/src"))]
PACKAGE_NAMES = ("dioptra_builtins", "dioptra_examples")

sys.path[1:1] = [path for path in SOURCE_DIRS if path not in sys.path]


def pytest_collection_finish(session: pytest.Session) -> None:
    for path in SOURCE_DIRS:
        while path in sys.path:
            sys.path.remove(path)
    for name in list(sys.modules):
        if name.split(".")[0] in PACKAGE_NAMES:
            del sys.modules[name]
