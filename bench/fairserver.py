"""A static HTTP server that is a fair peer for uv's parallel downloads.

Stock ``http.server.ThreadingHTTPServer`` listens with a backlog of 5 and speaks HTTP/1.0:
under uv's parallel downloads it drops connections (each costing a 1 s SYN retransmit) and
opens one connection per request, which made uv look 6x slower than it is.  This one keeps a
listen queue of 1024, answers HTTP/1.1 with keep-alive, and sets TCP_NODELAY on every
connection.
"""

from __future__ import annotations

import contextlib
import functools
import http.server
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


@contextlib.contextmanager
def serve_directory(directory: Path) -> Iterator[str]:
    """Serve ``directory`` on 127.0.0.1 (a free port) until the block exits; yields the URL."""
    handler = functools.partial(QuietKeepAliveHandler, directory=str(directory))
    server = FairHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
