"""Who holds the storages a sync opens (issue 22): an IndexConnections its owner keeps and
closes, or the process's own; and the one wording of an index or plugin dir given nowhere."""

from __future__ import annotations

from pathlib import Path

import pytest
from synchelpers import installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.errors import UsageError
from dioptra_plugins.index.connections import IndexConnections, shared_connections
from dioptra_plugins.index.defaults import default_index, required_index
from dioptra_plugins.index.url import INDEX_VARIABLE
from dioptra_plugins.plugindir.layout import (
    PLUGIN_DIR_VARIABLE,
    default_plugin_dir,
    writable_plugin_dir,
)


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"]])
    return url


def test_a_sync_uses_the_connections_it_is_given(index: str, tmp_path: Path) -> None:
    with IndexConnections() as connections:
        first = sync(["alpha"], index=index, plugin_dir=tmp_path / "a", connections=connections)
        storage = connections.open(index)
        before = storage.requests
        second = sync(["alpha"], index=index, plugin_dir=tmp_path / "b", connections=connections)
        # The same storage served both syncs, and the process's own was never opened.
        assert len(connections) == 1
        assert storage.requests - before == second.requests > 0
        assert len(shared_connections()) == 0
    assert len(connections) == 0
    assert first.installed == second.installed == {"alpha": "1.1.0"}
    assert installed(tmp_path / "b") == {"alpha": "1.1.0"}


def test_a_sync_without_connections_reuses_the_process_ones(index: str, tmp_path: Path) -> None:
    sync(["alpha"], index=index, plugin_dir=tmp_path / "a")
    storage = shared_connections().open(index)
    sync(["alpha"], index=index, plugin_dir=tmp_path / "b")
    assert shared_connections().open(index) is storage
    # It keeps no documents: a caller that holds nothing reads them from the dir's cache.
    assert shared_connections().documents(index) is None
    shared_connections().close()
    assert shared_connections().open(index) is not storage


def test_close_closes_what_can_be_closed_and_forgets_it() -> None:
    connections = IndexConnections()
    http = connections.open("http://127.0.0.1:9/index/", timeout=5)
    local = connections.open("/nonexistent/index")
    closed: list[object] = []
    # A storage that has something to close (a connection pool) says so with close().
    http.close = lambda: closed.append(http)  # type: ignore[attr-defined]
    assert connections.open("/nonexistent/index") is local
    connections.close()
    assert closed == [http]
    assert len(connections) == 0
    assert connections.open("/nonexistent/index") is not local


def test_a_bad_url_is_refused_and_nothing_is_kept() -> None:
    connections = IndexConnections()
    with pytest.raises(UsageError, match="unsupported index URL"):
        connections.open("ftp://example/index")
    assert len(connections) == 0


def test_the_index_comes_from_the_argument_then_the_variable(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.delenv(INDEX_VARIABLE, raising=False)
    assert default_index(None) is None
    assert default_index(Path("/srv/index")) == "/srv/index"
    monkeypatch.setenv(INDEX_VARIABLE, "s3://bucket/plugins")
    assert default_index(None) == "s3://bucket/plugins"
    assert default_index("") == "s3://bucket/plugins"
    assert required_index("/srv/index") == "/srv/index"


def test_no_index_names_the_parameter_and_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv(INDEX_VARIABLE, raising=False)
    with pytest.raises(UsageError) as caught:
        required_index(None)
    assert str(caught.value) == f"no index: pass `index` or set ${INDEX_VARIABLE}"
    assert caught.value.parameters == ["index"]
    with pytest.raises(UsageError) as caught:
        required_index(None, needed_for="syncing x.txt", hint="or not")
    assert str(caught.value) == (
        f"syncing x.txt needs an index: pass `index` or set ${INDEX_VARIABLE}; or not"
    )
    with pytest.raises(UsageError) as caught:
        sync(["alpha"], plugin_dir=tmp_path / "plugins")
    assert str(caught.value) == f"no index: pass `index` or set ${INDEX_VARIABLE}"
    assert not (tmp_path / "plugins").exists()


def test_the_plugin_dir_comes_from_the_argument_then_the_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv(PLUGIN_DIR_VARIABLE, str(tmp_path / "from-env"))
    assert default_plugin_dir(None) == str(tmp_path / "from-env")
    assert default_plugin_dir(tmp_path / "given") == str(tmp_path / "given")
    # An empty argument is a mistake, not "use the variable".
    assert default_plugin_dir("") is None
    monkeypatch.delenv(PLUGIN_DIR_VARIABLE)
    with pytest.raises(UsageError) as caught:
        writable_plugin_dir(None)
    assert str(caught.value) == f"no plugin dir: pass `plugin_dir` or set ${PLUGIN_DIR_VARIABLE}"
    assert caught.value.parameters == ["plugin_dir"]


def test_a_worker_holding_connections_reads_each_document_once(
    wheels: dict[str, Path], tmp_path: Path
) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [wheels["alpha-1.0.0"], wheels["gamma-1.0.0"]])
    with IndexConnections() as connections:
        first = sync(
            ["alpha", "gamma"], index=index, plugin_dir=tmp_path / "a", connections=connections
        )
        # Another plugin dir (no documents on its disk): the two documents come from memory.
        second = sync(
            ["alpha", "gamma"], index=index, plugin_dir=tmp_path / "b", connections=connections
        )
        assert second.requests == first.requests - 2
        publish_wheels(index, [wheels["alpha-1.1.0"]])
        third = sync(
            ["alpha", "gamma"], index=index, plugin_dir=tmp_path / "b", connections=connections
        )
        # Only alpha's new document is read (and its new bundle): gamma's is known.
        assert third.upgraded == {"alpha": ("1.0.0", "1.1.0")}
        assert third.requests == 1 + 1 + 1
        connections.close()
        fourth = sync(
            ["alpha", "gamma"], index=index, plugin_dir=tmp_path / "c", connections=connections
        )
        assert fourth.requests == first.requests
    assert installed(tmp_path / "c") == {"alpha": "1.1.0", "gamma": "1.0.0"}
