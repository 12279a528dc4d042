"""A one-bundle change against a big installed set (issue 26): what a changed sync no longer does
once per installed bundle, and that every check it still owes is still made.

- Project documents found in the plugin dir's cache are read in the calling thread (a pool only
  added hand-offs); each is still checked against the root's sha256, and a damaged or swapped
  one is fetched from the index again.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from pathlib import Path

import pytest
from synchelpers import installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.syncing import index_view


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, wheels.values())
    return url


@pytest.fixture
def no_pool(monkeypatch: pytest.MonkeyPatch) -> Callable[[], None]:
    """Once called, any use of a thread pool for project documents fails."""

    def refused(*args: object, **kwargs: object) -> None:
        raise AssertionError("a thread pool read project documents")

    return lambda: monkeypatch.setattr(index_view, "ThreadPoolExecutor", refused)


def _cached(plugin_dir: Path) -> dict[str, Path]:
    """The plugin dir's cached project documents: sha256 -> file."""
    documents = PluginDirLayout(plugin_dir).documents
    return {p.stem: p for p in documents.glob("*.json") if p.name != "root.json"}


def test_cached_documents_are_read_in_the_calling_thread(
    index: str, tmp_path: Path, no_pool: Callable[[], None]
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2", "gamma"], index=index, plugin_dir=plugin_dir)
    assert len(_cached(plugin_dir)) == 2
    no_pool()
    result = sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    assert result.upgraded == {"alpha": ("1.1.0", "2.0.0")}
    assert installed(plugin_dir) == {"alpha": "2.0.0", "gamma": "1.0.0"}


@pytest.mark.parametrize("damage", ["swapped", "edited", "emptied"])
def test_a_damaged_cached_document_is_fetched_again(
    index: str, tmp_path: Path, no_pool: Callable[[], None], damage: str
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2", "gamma"], index=index, plugin_dir=plugin_dir)
    cached = _cached(plugin_dir)
    alpha = next(p for p in cached.values() if b'"alpha"' in p.read_bytes())
    gamma = next(p for p in cached.values() if p != alpha)
    right = alpha.read_bytes()
    if damage == "swapped":  # a valid document, of another project
        alpha.write_bytes(gamma.read_bytes())
    elif damage == "edited":  # alpha 1.1.0 claimed to be the latest 9.0.0
        alpha.write_bytes(right.replace(b'"2.0.0"', b'"9.0.0"'))
    else:
        alpha.write_bytes(b"")
    no_pool()  # one document to fetch: in this thread too
    result = sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    assert result.upgraded == {"alpha": ("1.1.0", "2.0.0")}
    assert installed(plugin_dir) == {"alpha": "2.0.0", "gamma": "1.0.0"}
    # The document fetched again replaced the damaged copy.
    assert alpha.read_bytes() == right
    assert hashlib.sha256(right).hexdigest() == alpha.stem
