"""Fixtures of the catalogue tests: two indexes with their catalogue, and headless Chromium."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sitehelpers import (
    build_dioptra_index,
    build_shipped_index,
    chromium,
    chromium_available,
    static_server,
)

from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.url import open_storage


@pytest.fixture
def storage(index_url: str) -> Storage:
    """The index under test, on each backend (a local dir, moto, SeaweedFS)."""
    return open_storage(index_url)


@pytest.fixture(scope="session")
def shipped_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The shipped plugin packages and a hostile package, catalogue kept by publish/yank."""
    work = tmp_path_factory.mktemp("shipped")
    build_shipped_index(work / "index", work)
    return work / "index"


@pytest.fixture(scope="session")
def dioptra_index(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Dioptra's real task plugins, catalogue written by ``index site``."""
    work = tmp_path_factory.mktemp("dioptra")
    build_dioptra_index(work / "index", work)
    return work / "index"


@pytest.fixture(scope="session")
def browser() -> Iterator[Any]:
    if not chromium_available():
        pytest.skip(
            "BROWSER TESTS SKIPPED: /usr/bin/chromium or /usr/bin/chromedriver is missing; "
            "`make test` installs Debian's chromium and chromium-driver (apt-get, as root)"
        )
    with chromium() as driver:
        yield driver


@pytest.fixture(scope="session")
def browser_without_javascript() -> Iterator[Any]:
    if not chromium_available():
        pytest.skip("BROWSER TESTS SKIPPED: /usr/bin/chromium or /usr/bin/chromedriver is missing")
    with chromium(javascript=False) as driver:
        yield driver


@pytest.fixture(params=["file", "http"])
def how(request: pytest.FixtureRequest) -> str:
    """Where the browser reads the catalogue from: file:// or a static HTTP server."""
    return str(request.param)


def _served(index: Path, how: str) -> Iterator[str]:
    if how == "file":
        yield index.as_uri() + "/"
        return
    with static_server(index) as url:
        yield url


@pytest.fixture
def shipped_url(shipped_index: Path, how: str) -> Iterator[str]:
    """The base URL of the shipped index (its catalogue is under site/)."""
    yield from _served(shipped_index, how)


@pytest.fixture
def dioptra_url(dioptra_index: Path, how: str) -> Iterator[str]:
    yield from _served(dioptra_index, how)
