"""A static HTTP server that is a fair peer for uv's parallel downloads.

Stock ``http.server.ThreadingHTTPServer`` listens with a backlog of 5 and speaks HTTP/1.0:
under uv's parallel downloads it drops connections (each costing a 1 s SYN retransmit) and
opens one connection per request, which made uv look 6x slower than it is.  This one keeps a
listen queue of 1024, answers HTTP/1.1 with keep-alive, and sets TCP_NODELAY on every
connection.

``ranges=True`` also answers single byte ranges (``Range: bytes=a-b``, ``a-``, ``-n``) with 206,
as nginx, S3 and CDNs do; stock ``http.server`` ignores ``Range`` and sends the whole file.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
import os
import re
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any


class FairHTTPServer(http.server.ThreadingHTTPServer):
    request_queue_size = 1024
    daemon_threads = True

    def get_request(self) -> tuple[socket.socket, Any]:
        connection, address = super().get_request()
        connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection, address


class QuietKeepAliveHandler(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # files are sent with Content-Length: connections persist

    def log_message(self, format: str, *args: Any) -> None:
        pass


_BYTE_RANGE = re.compile(r"bytes=(\d*)-(\d*)")


class RangeHandler(QuietKeepAliveHandler):
    """Answers one byte range of a file with 206 Partial Content, as a static host does."""

    def do_GET(self) -> None:
        match = _BYTE_RANGE.fullmatch(self.headers.get("Range", "").strip())
        path = self.translate_path(self.path)
        if match is None or not os.path.isfile(path) or match.groups() == ("", ""):
            super().do_GET()
            return
        size = os.path.getsize(path)
        first, last = match.groups()
        if first == "":  # the last n bytes
            start, end = max(0, size - int(last)), size - 1
        else:
            start, end = int(first), min(size - 1, int(last)) if last else size - 1
        if start > end or start >= size:
            self.send_response(416)
            self.send_header("Content-Range", f"bytes */{size}")
            self.send_header("Content-Length", "0")
            self.end_headers()
            return
        with open(path, "rb") as source:
            source.seek(start)
            self.send_response(206)
            self.send_header("Content-Type", self.guess_type(path))
            self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            self.send_header("Content-Length", str(end - start + 1))
            self.end_headers()
            _copy_exactly(source, self.wfile, end - start + 1)


def _copy_exactly(source: Any, target: Any, length: int) -> None:
    while length > 0:
        chunk = source.read(min(length, 1 << 20))
        if not chunk:
            break
        target.write(chunk)
        length -= len(chunk)


@contextlib.contextmanager
def serve_directory(directory: Path, *, ranges: bool = False) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) until the block exits; yields the URL.

    ``ranges``: answer byte ranges (see the module doc); off by default, so that the uv
    baselines keep the server they were measured against.
    """
    handler_class = RangeHandler if ranges else QuietKeepAliveHandler
    handler = functools.partial(handler_class, directory=str(directory))
    server = FairHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
