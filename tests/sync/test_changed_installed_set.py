"""A one-bundle change against a big installed set (issue 26): what a changed sync no longer does
once per installed bundle, and that every check it still owes is still made.

- Project documents found in the plugin dir's cache are read in the calling thread (a pool only
  added hand-offs); each is still checked against the root's sha256, and a damaged or swapped
  one is fetched from the index again.
- The store is asked once which entries are missing; a resolution parses each version once.
- Entry links are checked with strings now: a name sync does not manage is still refused, a
  dangling link of ours still removed; a local index's bundle URLs are still pathlib's.
"""

from __future__ import annotations

import hashlib
import os
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from synchelpers import installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.plugindir import generations, pylock
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


@pytest.mark.parametrize("occupant", ["file", "directory", "foreign link", "dangling foreign link"])
def test_a_name_sync_does_not_manage_is_refused_before_and_at_the_switch(
    index: str, tmp_path: Path, occupant: str
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2"], index=index, plugin_dir=plugin_dir)
    place = plugin_dir / "gamma"
    if occupant == "file":
        place.write_text("mine\n")
    elif occupant == "directory":
        place.mkdir()
    elif occupant == "foreign link":
        place.symlink_to(plugin_dir / ".dioptra-plugins")
    else:
        place.symlink_to("nowhere")
    before = {p.name: os.readlink(p) if p.is_symlink() else None for p in plugin_dir.iterdir()}
    with pytest.raises(PluginDirError, match=f"does not manage: {place}"):
        sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    after = {p.name: os.readlink(p) if p.is_symlink() else None for p in plugin_dir.iterdir()}
    assert after == before
    assert installed(plugin_dir) == {"alpha": "1.1.0"}
    # The switch checks again the names it lacks: one taken after the first check is refused.
    layout = PluginDirLayout(plugin_dir)
    (alpha,) = generations.read_generation_lock(layout, "000001").packages
    lock = pylock.Lock(
        packages=(alpha, replace(alpha, name="gamma", top_level="gamma")), index=index
    )
    with pytest.raises(PluginDirError, match=f"does not manage: {place}"):
        generations.switch_to(layout, "000001", lock)
    assert {p.name: os.readlink(p) if p.is_symlink() else None for p in plugin_dir.iterdir()} == (
        before
    )


def test_dangling_entry_links_are_removed_and_others_kept(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2", "gamma"], index=index, plugin_dir=plugin_dir)
    # A killed switch's links: ours, leading nowhere yet; a user's dangling link is not ours.
    (plugin_dir / "omega").symlink_to(".dioptra-plugins/current/omega")
    (plugin_dir / "mine").symlink_to("nowhere")
    layout = PluginDirLayout(plugin_dir)
    assert generations.remove_dangling_entry_links(layout) == ["omega"]
    assert not (plugin_dir / "omega").is_symlink()
    assert os.readlink(plugin_dir / "mine") == "nowhere"
    assert sorted(generations.managed_entry_links(layout)) == ["alpha", "gamma"]
    # A loop is "leads nowhere" too, as Path.exists says.
    (plugin_dir / "omega").symlink_to(".dioptra-plugins/current/omega")
    current = layout.current_generation()
    assert current is not None
    (current / "omega").symlink_to("../../../omega")
    assert generations.remove_dangling_entry_links(layout) == ["omega"]


@pytest.mark.parametrize(
    "key",
    [
        "bundles/alpha/alpha-1.0.0-py3-none-any.whl",
        "bundles/a b/x%y#z?.whl",
        "bundles/é/ü\udcff.whl",
        "bundles//double.whl",
        "bundles/./dot.whl",
        "bundles/../up.whl",
        "trailing/",
        "",
    ],
)
@pytest.mark.parametrize("where", ["plain", "file://", "root"])
def test_local_bundle_urls_are_pathlibs(tmp_path: Path, key: str, where: str) -> None:
    index = {"plain": str(tmp_path / "in dex"), "file://": f"file://{tmp_path}/ix", "root": "/"}
    url = index[where]
    expected = (Path(url.removeprefix("file://")).resolve() / key).as_uri()
    assert pylock.bundle_urls(url)(key) == expected
    assert pylock.bundle_url(url, key) == expected


def test_each_store_entry_is_asked_for_once_before_the_downloads(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2", "gamma"], index=index, plugin_dir=plugin_dir)
    store = os.fspath(PluginDirLayout(plugin_dir).store)
    asked: list[str] = []
    isdir = os.path.isdir

    def counted(path: str | os.PathLike[str]) -> bool:
        if os.path.dirname(os.fspath(path)) == store:
            asked.append(os.path.basename(os.fspath(path)))
        return isdir(path)

    monkeypatch.setattr(os.path, "isdir", counted)
    result = sync(["alpha", "gamma"], index=index, plugin_dir=plugin_dir)
    assert result.upgraded == {"alpha": ("1.1.0", "2.0.0")}
    assert result.downloaded == 1
    # gamma's entry once (it is there); alpha 2.0.0's once, then once more by the download
    # step, which checks again what it was handed.
    packages = generations.read_generation_lock(PluginDirLayout(plugin_dir), "000002").packages
    sha256s = {p.name: p.sha256 for p in packages}
    assert asked.count(sha256s["gamma"]) == 1
    assert asked.count(sha256s["alpha"]) == 2


def test_a_resolution_parses_each_version_text_once(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dioptra_plugins.syncing import resolve as resolving

    parsed: list[str] = []
    from packaging.version import Version as version

    def counted(text: str) -> object:
        parsed.append(text)
        return version(text)

    resolving._version.cache_clear()
    monkeypatch.setattr(resolving, "Version", counted)
    result = sync(["alpha", "gamma"], index=index, plugin_dir=tmp_path / "plugins")
    assert result.installed == {"alpha": "2.0.0", "gamma": "1.0.0"}
    # alpha has 1.0.0, 1.1.0 and 2.0.0, gamma 1.0.0 again.
    assert sorted(parsed) == ["1.0.0", "1.1.0", "2.0.0"]
    resolving._version.cache_clear()


def test_a_damaged_cache_hands_the_rest_to_the_pool(
    index: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha<2", "beta", "gamma"], index=index, plugin_dir=plugin_dir)
    cached = _cached(plugin_dir)
    assert len(cached) == 3
    right = {path: path.read_bytes() for path in cached.values()}
    for path in cached.values():  # torn, as a crash can leave a cache written without fsync
        path.write_bytes(b"")
    pools: list[object] = []
    from concurrent.futures import ThreadPoolExecutor as pool

    def counted(*args: Any, **kwargs: Any) -> object:
        pools.append(kwargs)
        return pool(*args, **kwargs)

    monkeypatch.setattr(index_view, "ThreadPoolExecutor", counted)
    result = sync(["alpha<1.1", "beta", "gamma"], index=index, plugin_dir=plugin_dir)
    assert result.upgraded == {"alpha": ("1.1.0", "1.0.0")}
    # The first copy failed its check and was fetched here; the other two went to a pool.
    assert pools == [{"max_workers": 2}]
    assert {path: path.read_bytes() for path in right} == right
