"""Network faults between sync and S3 (moto behind tests/faultproxy.py).

Connections reset, stalled, answered 503 SlowDown, or cut mid-body: the sync retries (botocore's
standard retries for requests; a fresh GET for a broken bundle stream) and either succeeds or
fails cleanly with the plugin dir unchanged.  The proxy also counts the true HTTP requests.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from synchelpers import installed, publish_wheels, snapshot

from dioptra_plugins import sync
from dioptra_plugins.errors import DioptraPluginsError
from dioptra_plugins.plugindir.verify_dir import verify
from faultproxy import CUT, FORWARD, RESET, SLOWDOWN, FaultProxy, stall
from s3servers import S3Server


@pytest.fixture
def index(
    moto_server: S3Server, monkeypatch: pytest.MonkeyPatch, wheels: dict[str, Path]
) -> Iterator[str]:
    moto_server.apply(monkeypatch)
    bucket = moto_server.create_bucket("faults")
    url = f"s3://{bucket}/plugins"
    publish_wheels(url, [wheels["alpha-1.0.0"], wheels["beta-1.0.0"], wheels["alpha-1.1.0"]])
    yield url
    moto_server.delete_bucket(bucket)


@pytest.fixture
def proxy(moto_server: S3Server, monkeypatch: pytest.MonkeyPatch) -> Iterator[FaultProxy]:
    with FaultProxy(moto_server.endpoint) as running:
        monkeypatch.setenv("AWS_ENDPOINT_URL", running.url)
        yield running


def first_n(action: str, n: int, path_part: str) -> object:
    """A plan: ``action`` for the first ``n`` requests whose path contains ``path_part``."""
    hits = {"count": 0}

    def plan(_number: int, _method: str, path: str) -> str:
        if path_part in path and hits["count"] < n:
            hits["count"] += 1
            return action
        return FORWARD

    return plan


def test_noop_is_exactly_one_http_request(index: str, proxy: FaultProxy, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    before = proxy.count()
    result = sync(["beta"], index=index, plugin_dir=plugin_dir)
    assert result.not_modified
    assert proxy.count() - before == 1 == result.requests
    assert proxy.seen[-1].method == "GET"
    assert proxy.seen[-1].path.endswith("/index.json")


@pytest.mark.parametrize(
    ("action", "times", "path_part"),
    [
        (RESET, 2, "index.json"),
        (SLOWDOWN, 2, "index.json"),
        (RESET, 1, "/projects/"),
        (SLOWDOWN, 2, "/bundles/"),
        (stall(0.5), 2, "/bundles/"),
        (CUT, 2, "/bundles/alpha"),
    ],
)
def test_transient_faults_are_retried(
    index: str, proxy: FaultProxy, tmp_path: Path, action: str, times: int, path_part: str
) -> None:
    proxy.plan = first_n(action, times, path_part)  # type: ignore[assignment]
    plugin_dir = tmp_path / "plugins"
    result = sync(["beta"], index=index, plugin_dir=plugin_dir)
    assert installed(plugin_dir) == {"alpha": "1.1.0", "beta": "1.0.0"}
    assert sum(1 for s in proxy.seen if s.action == action) == times
    assert result.requests == proxy.count()
    assert verify(plugin_dir).ok


@pytest.mark.parametrize(
    ("action", "path_part"),
    [(SLOWDOWN, "index.json"), (RESET, "/bundles/"), (SLOWDOWN, "/bundles/"), (CUT, "/bundles/")],
)
def test_persistent_faults_fail_cleanly(
    index: str, proxy: FaultProxy, tmp_path: Path, action: str, path_part: str
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha==1.0.0"], index=index, plugin_dir=plugin_dir)
    before = snapshot(plugin_dir)
    proxy.plan = first_n(action, 1000, path_part)  # type: ignore[assignment]
    with pytest.raises(DioptraPluginsError) as caught:
        sync(["beta"], index=index, plugin_dir=plugin_dir)
    assert index.split("/")[2] in str(caught.value) or "alpha" in str(caught.value)
    assert snapshot(plugin_dir) == before
    assert installed(plugin_dir) == {"alpha": "1.0.0"}
    proxy.plan = first_n(FORWARD, 0, "")  # type: ignore[assignment]
    assert sync(["beta"], index=index, plugin_dir=plugin_dir).switched
