"""The Prefect 1 tests: Dioptra's seeds' flows (``with Flow(...)``) over our pyplugs.

Prefect 1 cannot share an environment with Prefect 3, so these run only in ``.venv-prefect1``
(``make test`` builds it; ``tests/registry/test_prefect1_suites.py`` runs them there and fails
if it is missing).  Anywhere else they are not collected.
"""

from __future__ import annotations

import importlib.metadata
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from prefect1.seeds import SeedTree, write_seed_tree


def _prefect_major() -> int | None:
    try:
        return int(importlib.metadata.version("prefect").partition(".")[0])
    except (importlib.metadata.PackageNotFoundError, ValueError):
        return None


collect_ignore_glob = [] if _prefect_major() == 1 else ["test_*.py"]


def pytest_configure(config: pytest.Config) -> None:
    # Prefect 1 uses a helper that warns once at import; nothing of ours.
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


@pytest.fixture
def seeds(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[SeedTree]:
    """A Dioptra-shaped plugin tree on ``sys.path``; its modules are forgotten afterwards."""
    root = tmp_path / "plugins"
    root.mkdir()
    tree = write_seed_tree(root)
    monkeypatch.syspath_prepend(str(root))
    yield tree
    for name in list(sys.modules):
        if name.partition(".")[0] in tree.top_level_names:
            del sys.modules[name]
