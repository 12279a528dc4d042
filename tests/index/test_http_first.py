"""An HTTP index's first conditional GET goes on http.client (index/http_first.py).

A real server on 127.0.0.1 that answers each request as the test's script says: 304, a 200
with or without an ETag, a 500, a redirect, a body cut short.  Whatever the first answer, the
storage returns what the urllib3 pool alone would have, and counts every request it sent.
"""

from __future__ import annotations

import http.server
import threading
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from dioptra_plugins.errors import ObjectNotFoundError
from dioptra_plugins.index.http import HTTPStorage
from dioptra_plugins.index.storage import NotModified, StoredObject

ROOT = b'{"format": 1}'
ETAG = '"root-1"'

Answer = Callable[["_Handler"], None]


def send(status: int, body: bytes = b"", headers: dict[str, str] | None = None) -> Answer:
    def answer(handler: _Handler) -> None:
        handler.send_response(status)
        for name, value in (headers or {}).items():
            handler.send_header(name, value)
        handler.send_header("Content-Length", str(len(body)))
        handler.end_headers()
        handler.wfile.write(body)

    return answer


def cut_short(handler: _Handler) -> None:
    handler.send_response(200)
    handler.send_header("Content-Length", str(len(ROOT) + 100))
    handler.end_headers()
    handler.wfile.write(ROOT)
    handler.close_connection = True


class _Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    script: list[Answer]
    seen: list[tuple[str, str | None]]
    fallback: Answer

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        self.seen.append((self.path, self.headers.get("If-None-Match")))
        answer = self.script.pop(0) if self.script else self.fallback
        answer(self)


class ScriptedServer:
    def __init__(self) -> None:
        class Handler(_Handler):
            script: list[Answer] = []  # noqa: RUF012 - one list per server
            seen: list[tuple[str, str | None]] = []  # noqa: RUF012
            fallback = staticmethod(send(200, ROOT, {"ETag": ETAG}))

        self.handler = Handler
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/idx/"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture
def server() -> Iterator[ScriptedServer]:
    running = ScriptedServer()
    yield running
    running.close()


def _urllib3_loaded_by(storage: HTTPStorage) -> bool:
    return storage._pooled is not None  # the pool is built only when a read needs it


def test_a_304_is_one_request_without_the_pool(server: ScriptedServer) -> None:
    server.handler.script[:] = [send(304, b"", {"ETag": ETAG})]
    storage = HTTPStorage(server.url, timeout=5)
    assert storage.get_if_changed("index.json", ETAG) == NotModified("index.json", ETAG)
    assert server.handler.seen == [("/idx/index.json", ETAG)]
    assert storage.requests == 1
    assert not _urllib3_loaded_by(storage)


def test_a_server_without_etags_is_compared_by_content(server: ScriptedServer) -> None:
    server.handler.fallback = staticmethod(send(200, ROOT))
    storage = HTTPStorage(server.url, timeout=5)
    first = storage.get("index.json")  # the pool: not a conditional GET
    assert first.etag.startswith("sha256:")
    again = HTTPStorage(server.url, timeout=5)
    assert again.get_if_changed("index.json", first.etag) == NotModified("index.json", first.etag)
    assert again.requests == 1
    assert not _urllib3_loaded_by(again)


def test_a_changed_root_is_returned_whole(server: ScriptedServer) -> None:
    storage = HTTPStorage(server.url, timeout=5)
    found = storage.get_if_changed("index.json", '"old"')
    assert found == StoredObject("index.json", ROOT, ETAG)
    assert storage.requests == 1


@pytest.mark.parametrize(
    ("first", "why"),
    [
        (send(500, b"busy"), "a 5xx is retried by the pool"),
        (send(302, b"", {"Location": "/idx/index.json?moved"}), "the pool follows redirects"),
        (cut_short, "a body cut short is never taken for the root"),
        (send(404), "a 404 gets the pool's own answer"),
    ],
)
def test_other_first_answers_are_made_again_on_the_pool(
    server: ScriptedServer, first: Answer, why: str
) -> None:
    server.handler.script[:] = [first]
    storage = HTTPStorage(server.url, timeout=5)
    found = storage.get_if_changed("index.json", '"old"')
    assert found == StoredObject("index.json", ROOT, ETAG), why
    assert _urllib3_loaded_by(storage)
    assert storage.requests == len(server.handler.seen) >= 2


def test_a_missing_root_is_not_found(server: ScriptedServer) -> None:
    server.handler.fallback = staticmethod(send(404))
    storage = HTTPStorage(server.url, timeout=5)
    with pytest.raises(ObjectNotFoundError):
        storage.get_if_changed("index.json", ETAG)
    assert storage.requests == 2  # the first GET, and the pool's


def test_only_the_first_request_goes_on_http_client(server: ScriptedServer) -> None:
    storage = HTTPStorage(server.url, timeout=5)
    storage.get_if_changed("index.json", '"old"')
    assert not _urllib3_loaded_by(storage)
    storage.get_if_changed("index.json", '"old"')
    assert _urllib3_loaded_by(storage)
    assert storage.requests == len(server.handler.seen) == 2
