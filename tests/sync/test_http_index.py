"""A read-only HTTP index: a static server in front of an index directory, as a CDN would be.

Two real servers on 127.0.0.1: one that sends ETags and answers If-None-Match with 304 (nginx,
S3 website endpoints, CDNs), one that sends none (Python's http.server).  Each counts the
requests it answered.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import os
import subprocess
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from synchelpers import CLI, installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.errors import IntegrityError, StorageError, SyncError
from dioptra_plugins.index.http import HTTPStorage
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.plugindir.verify_dir import verify


class CountingHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    with_etags = True
    tamper: dict[str, bytes] = {}  # noqa: RUF012 - per-server class attribute, set by the fixture
    seen: list[tuple[str, int]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        relative = self.path.split("?", 1)[0].lstrip("/")
        path = Path(self.directory, relative)
        if not path.is_file():
            self._answer(404, b"")
            return
        data = self.tamper.get(relative, path.read_bytes())
        headers = {"Content-Type": "application/octet-stream"}
        if self.with_etags:
            etag = '"' + hashlib.sha256(data).hexdigest()[:32] + '"'
            headers["ETag"] = etag
            if self.headers.get("If-None-Match") == etag:
                self._answer(304, b"", headers)
                return
        self._answer(200, data, headers)

    def _answer(self, status: int, body: bytes, headers: dict[str, str] | None = None) -> None:
        self.seen.append((self.path, status))
        self.send_response(status)
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)


class Server:
    def __init__(self, directory: Path, with_etags: bool) -> None:
        class Handler(CountingHandler):
            """This server's settings and request log (class attributes: one handler a request)."""

        Handler.with_etags = with_etags
        Handler.tamper = {}
        Handler.seen = []
        handler_class: type[CountingHandler] = Handler
        self.handler_class = handler_class
        self.httpd = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(handler_class, directory=str(directory))
        )
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/"
        self.thread = threading.Thread(target=self.httpd.serve_forever, daemon=True)
        self.thread.start()

    @property
    def seen(self) -> list[tuple[str, int]]:
        return self.handler_class.seen

    def stop(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def index_dir(wheels: dict[str, Path], tmp_path: Path) -> Path:
    directory = tmp_path / "index"
    publish_wheels(str(directory), [wheels["alpha-1.0.0"], wheels["beta-1.0.0"]])
    return directory


@pytest.fixture(params=[True, False], ids=["etags", "no-etags"])
def server(request: pytest.FixtureRequest, index_dir: Path) -> Iterator[Server]:
    served = Server(index_dir, with_etags=request.param)
    yield served
    served.stop()


def test_sync_from_an_http_index_and_a_no_op_is_one_request(
    server: Server, index_dir: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "plugins"
    first = sync(["beta"], index=server.url, plugin_dir=plugin_dir)
    assert first.switched
    assert installed(plugin_dir) == {"alpha": "1.0.0", "beta": "1.0.0"}
    assert verify(plugin_dir).ok
    server.seen.clear()
    again = sync(["beta"], index=server.url, plugin_dir=plugin_dir)
    assert again.not_modified
    assert again.requests == 1
    expected_status = 304 if server.handler_class.with_etags else 200
    assert server.seen == [("/index.json", expected_status)]
    # A publish behind the server is seen by the next sync.
    publish_wheels(str(index_dir), [wheels["alpha-1.1.0"]])
    upgraded = sync(["beta"], index=server.url, plugin_dir=plugin_dir)
    assert upgraded.upgraded == {"alpha": ("1.0.0", "1.1.0")}


def test_the_cli_syncs_from_an_http_index(server: Server, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    done = subprocess.run(
        [CLI, "sync", "alpha", "--index", server.url, "--plugin-dir", str(plugin_dir)],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert installed(plugin_dir) == {"alpha": "1.0.0"}
    listed = subprocess.run(
        [CLI, "index", "list", "--index", server.url], capture_output=True, text=True, check=False
    )
    assert listed.returncode == 0, listed.stderr
    assert "alpha" in listed.stdout


def test_an_http_index_is_read_only(server: Server, wheels: dict[str, Path]) -> None:
    storage = open_storage(server.url)
    assert isinstance(storage, HTTPStorage)
    with pytest.raises(StorageError, match="read-only HTTP index"):
        storage.put_new("bundles/x/x.whl", b"x")
    done = subprocess.run(
        [CLI, "publish", str(wheels["alpha-2.0.0"]), "--index", server.url],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "read-only HTTP index" in done.stderr
    assert "Traceback" not in done.stderr


def test_a_cache_that_serves_other_bytes_is_refused(
    server: Server, index_dir: Path, tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=server.url, plugin_dir=plugin_dir)
    (bundle,) = (index_dir / "bundles" / "beta").glob("*.whl")
    key = f"bundles/beta/{bundle.name}"
    data = bytearray(bundle.read_bytes())
    data[len(data) // 2] ^= 0xFF
    server.handler_class.tamper[key] = bytes(data)
    before = sorted(os.listdir(plugin_dir))
    with pytest.raises(IntegrityError, match="does not match the index"):
        sync(["beta"], index=server.url, plugin_dir=plugin_dir)
    assert installed(plugin_dir) == {"alpha": "1.0.0"}
    assert sorted(os.listdir(plugin_dir)) == before


def test_no_index_at_the_url(tmp_path: Path) -> None:
    empty = tmp_path / "empty"
    empty.mkdir()
    served = Server(empty, with_etags=True)
    try:
        with pytest.raises(SyncError, match=r"no index at .*index\.json does not exist"):
            sync(["alpha"], index=served.url, plugin_dir=tmp_path / "plugins")
    finally:
        served.stop()


def test_malformed_http_urls_are_usage_errors() -> None:
    from dioptra_plugins.errors import UsageError

    for url in ("http://", "https://host/prefix?x=1", "http://host/#frag"):
        with pytest.raises(UsageError):
            open_storage(url)


def test_an_http_index_that_never_answers_fails_within_the_timeout(tmp_path: Path) -> None:
    import socket
    import time

    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    url = f"http://127.0.0.1:{listener.getsockname()[1]}/"
    try:
        started = time.monotonic()
        with pytest.raises(StorageError, match="did not answer"):
            HTTPStorage(url, timeout=0.5).get("index.json")
        assert time.monotonic() - started < 10
    finally:
        listener.close()


def test_a_refused_connection_says_so_not_that_it_timed_out(tmp_path: Path) -> None:
    import socket

    closed = socket.socket()
    closed.bind(("127.0.0.1", 0))
    port = closed.getsockname()[1]
    closed.close()  # nothing listens there: every connection is refused at once
    index = f"http://127.0.0.1:{port}/"
    done = subprocess.run(
        [CLI, "sync", "alpha", "--index", index, "--plugin-dir", str(tmp_path / "plugins")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    last = done.stderr.strip().splitlines()[-1]
    assert last.startswith(f"error: cannot connect to the HTTP index http://127.0.0.1:{port}/")
    assert "Connection refused" in last
    assert "within" not in last
    assert "urllib3" not in done.stderr  # its own Retrying lines only with -vvv
