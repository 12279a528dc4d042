"""Glue for the vendored test suites (no part of them): run them as their projects ran them.

Their ``plugin_package`` fixtures name the plugin folder by its path relative to the working
directory, as the projects ran pytest from their repository root with that root importable:
so every vendored test runs in our repository root, with the root on ``sys.path``
(``tests.vendor.pyplugs_0_5_4.plugin_directory`` is then the plugin package).

Dioptra's suite needs Prefect 1 (``from prefect import Flow``), which cannot share an
environment with Prefect 3: it is collected only where Prefect 1 is installed, the
``.venv-prefect1`` that ``make test`` builds, and ``tests/registry/test_prefect1_suites.py``
runs it there (failing, not skipping, when that environment is missing).
"""

from __future__ import annotations

import importlib.metadata
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def prefect_major() -> int | None:
    try:
        return int(importlib.metadata.version("prefect").partition(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


collect_ignore = [] if prefect_major() == 1 else ["dioptra_pyplugs"]


@pytest.fixture(autouse=True)
def _run_from_the_repository_root(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    monkeypatch.syspath_prepend(str(ROOT))
