"""Fixtures for the hostile-input and fuzz tests: real wheels built by hatchling."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.index.connections import shared_connections


def _package(parent: Path, version: str) -> Path:
    """A bare plugin package ``alpha`` with a few registered tasks."""
    package = parent / f"src-{version}" / "alpha"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'VERSION = "{version}"\n')
    for number in range(3):
        (package / f"mod{number}.py").write_text(
            "from dioptra_plugins.pyplugs import register\n\n\n"
            "@register\n"
            f"def task{number}(x: int) -> str:\n"
            f'    """Task {number} of alpha {version}."""\n'
            f'    return "alpha-{version}-{number}-" + str(x)\n'
        )
    return package


@pytest.fixture(scope="session")
def built_wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """alpha 1.0.0 and 1.1.0, built by hatchling with their task manifests."""
    workdir = tmp_path_factory.mktemp("built")
    return {
        version: build_bundle(_package(workdir, version), workdir / "wheels", version=version)
        for version in ("1.0.0", "1.1.0")
    }


@pytest.fixture(autouse=True)
def fresh_storages() -> Iterator[None]:
    """Each test gets its own storage objects, as in the sync tests."""
    shared_connections().close()
    yield
    shared_connections().close()
