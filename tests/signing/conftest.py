"""Fixtures of the signed-index tests: bundles, keys, and a signed index on real backends.

``index_backend`` is narrowed to the local directory and SeaweedFS (the S3 server closest to
production here); moto adds nothing TUF-specific.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from signhelpers import build, make_keys

from dioptra_plugins.index.connections import shared_connections
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.initialize import init_index


@pytest.fixture(params=["local", pytest.param("seaweedfs", marks=pytest.mark.slow)])
def index_backend(request: pytest.FixtureRequest) -> str:
    return str(request.param)


@pytest.fixture(scope="session")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """``alpha-1.0.0``, ``alpha-1.1.0``, ``alpha-1.2.0``, ``evil-alpha-1.1.0`` (same name and
    version as alpha 1.1.0, other code), ``p0-1.0.0`` ... ``p3-1.0.0``."""
    workdir = tmp_path_factory.mktemp("signed-bundles")
    built = {
        "alpha-1.0.0": build(workdir, "alpha", "1.0.0"),
        "alpha-1.1.0": build(workdir, "alpha", "1.1.0"),
        "alpha-1.2.0": build(workdir, "alpha", "1.2.0"),
        "evil-alpha-1.1.0": build(workdir, "alpha", "1.1.0", says="pwned"),
    }
    for number in range(4):
        built[f"p{number}-1.0.0"] = build(workdir, f"p{number}", "1.0.0")
    return built


@pytest.fixture
def keys(tmp_path: Path) -> Path:
    """A key directory with all four roles and its root.json (version 1)."""
    return make_keys(tmp_path / "keys")


@pytest.fixture
def signed_index(index_url: str, keys: Path) -> str:
    """An empty index, signed (what ``index init URL --signed --keys KEYDIR`` does)."""
    init_index(open_storage(index_url), signed=True, keys=keys)
    return index_url


@pytest.fixture(autouse=True)
def fresh_storages() -> Iterator[None]:
    """Each test gets its own storage objects (and so its own request counter)."""
    shared_connections().close()
    yield
    shared_connections().close()
