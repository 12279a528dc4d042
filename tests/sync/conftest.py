"""Bundles for the sync tests, built once per session from generated plugin packages.

The catalogue (project: versions, requirements):

- alpha 1.0.0, 1.1.0, 2.0.0
- beta 1.0.0 needs alpha>=1,<2
- omega 1.0.0 needs alpha>=2 (so beta and omega conflict)
- gamma 1.0.0 needs numpy>=1 (installed in the test environment)
- delta 1.0.0 needs no-such-distribution-xyz>=1 and packaging>=999 (never met)
"""

from __future__ import annotations

from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from synchelpers import build

from dioptra_plugins.index.connections import shared_connections

CATALOGUE: list[tuple[str, str, tuple[str, ...]]] = [
    ("alpha", "1.0.0", ()),
    ("alpha", "1.1.0", ()),
    ("alpha", "2.0.0", ()),
    ("beta", "1.0.0", ("alpha>=1,<2",)),
    ("omega", "1.0.0", ("alpha>=2",)),
    ("gamma", "1.0.0", ("numpy>=1",)),
    ("delta", "1.0.0", ("no-such-distribution-xyz>=1", "packaging>=999")),
]


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``"alpha-1.0.0"`` -> the bundle's path, for every entry of the catalogue."""
    workdir = tmp_path_factory.mktemp("bundles")
    with ThreadPoolExecutor(max_workers=2) as pool:
        built = pool.map(lambda entry: build(workdir, *entry), CATALOGUE)
        return {
            f"{top}-{version}": path
            for (top, version, _), path in zip(CATALOGUE, built, strict=True)
        }


@pytest.fixture(autouse=True)
def fresh_storages() -> Iterator[None]:
    """Each test gets its own storage objects (and so its own endpoint and request counter)."""
    shared_connections().close()
    yield
    shared_connections().close()
