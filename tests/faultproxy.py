"""A small fault-injecting HTTP proxy on 127.0.0.1, in front of an S3 server (for tests).

Every request a client sends through it is counted and recorded, then handled as a *plan*
decides: forwarded, answered ``503 SlowDown``, reset (TCP RST), stalled before forwarding, or
cut (the response headers and half the body, then a reset).  The proxy speaks just enough
HTTP/1.1 for boto3: requests with a Content-Length body (or none); each forwarded request is
sent upstream with ``Connection: close`` so the upstream's whole answer is "read until EOF".

Signatures are computed by the client for the proxy's host, so use it in front of a server that
does not check them (moto), not SeaweedFS.
"""

from __future__ import annotations

import contextlib
import socket
import struct
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import urlsplit

FORWARD = "forward"
RESET = "reset"
SLOWDOWN = "503"
CUT = "cut"


def stall(seconds: float) -> str:
    return f"stall:{seconds}"


@dataclass(frozen=True)
class Seen:
    number: int
    method: str
    path: str
    action: str


Plan = Callable[[int, str, str], str]
"""(request number from 0, method, path) -> an action."""

_SLOWDOWN_BODY = (
    b'<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>SlowDown</Code>'
    b"<Message>Please reduce your request rate.</Message><RequestId>fault</RequestId></Error>"
)


def _reset(sock: socket.socket) -> None:
    """Close with a TCP RST rather than a FIN (SO_LINGER with a zero timeout)."""
    with contextlib.suppress(OSError):
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


class _Reader:
    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.buffer = b""

    def until(self, marker: bytes) -> bytes | None:
        while marker not in self.buffer:
            chunk = self.sock.recv(65536)
            if not chunk:
                return None
            self.buffer += chunk
        head, self.buffer = self.buffer.split(marker, 1)
        return head + marker

    def exactly(self, count: int) -> bytes:
        while len(self.buffer) < count:
            chunk = self.sock.recv(65536)
            if not chunk:
                break
            self.buffer += chunk
        data, self.buffer = self.buffer[:count], self.buffer[count:]
        return data


class FaultProxy:
    """``with FaultProxy("http://127.0.0.1:5000") as proxy: ... proxy.url ... proxy.seen``."""

    def __init__(self, upstream: str, plan: Plan | None = None) -> None:
        parts = urlsplit(upstream)
        self.upstream = (parts.hostname or "127.0.0.1", parts.port or 80)
        self.plan: Plan = plan or (lambda _n, _m, _p: FORWARD)
        self.seen: list[Seen] = []
        self._lock = threading.Lock()
        self._server = socket.create_server(("127.0.0.1", 0))
        self._stopping = False
        self._threads: list[threading.Thread] = []
        self._clients: set[socket.socket] = set()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.getsockname()[1]}"

    def __enter__(self) -> FaultProxy:
        thread = threading.Thread(target=self._accept, name="faultproxy", daemon=True)
        thread.start()
        self._threads.append(thread)
        return self

    def __exit__(self, *_exc: object) -> None:
        self._stopping = True
        with contextlib.suppress(OSError):
            self._server.shutdown(socket.SHUT_RDWR)
        self._server.close()
        with self._lock:
            clients = list(self._clients)
        for client in clients:
            with contextlib.suppress(OSError):
                client.shutdown(socket.SHUT_RDWR)
        for thread in self._threads:
            thread.join(timeout=5)

    def count(self, path_contains: str = "") -> int:
        with self._lock:
            return sum(1 for s in self.seen if path_contains in s.path)

    def _accept(self) -> None:
        while not self._stopping:
            try:
                client, _address = self._server.accept()
            except OSError:
                return
            with self._lock:
                self._clients.add(client)
            thread = threading.Thread(target=self._serve, args=(client,), daemon=True)
            thread.start()
            self._threads.append(thread)

    def _serve(self, client: socket.socket) -> None:
        reader = _Reader(client)
        try:
            while True:
                head = reader.until(b"\r\n\r\n")
                if head is None:
                    break
                lines = head.decode("latin-1").split("\r\n")
                method, path, _version = lines[0].split(" ", 2)
                headers = [line for line in lines[1:] if line]
                length = 0
                for line in headers:
                    name, _, value = line.partition(":")
                    if name.strip().lower() == "content-length":
                        length = int(value.strip())
                body = reader.exactly(length)
                with self._lock:
                    number = len(self.seen)
                    action = self.plan(number, method, path)
                    self.seen.append(Seen(number, method, path, action))
                if action == RESET:
                    _reset(client)
                    return
                if action == SLOWDOWN:
                    client.sendall(
                        b"HTTP/1.1 503 Slow Down\r\nContent-Type: application/xml\r\n"
                        + f"Content-Length: {len(_SLOWDOWN_BODY)}\r\n".encode()
                        + b"Connection: close\r\n\r\n"
                        + _SLOWDOWN_BODY
                    )
                    break
                if action.startswith("stall:"):
                    time.sleep(float(action.split(":", 1)[1]))
                response = self._forward(method, path, headers, body)
                if action == CUT:
                    split = response.index(b"\r\n\r\n") + 4
                    client.sendall(response[: split + (len(response) - split) // 2])
                    _reset(client)
                    return
                client.sendall(response)
                break  # upstream closed after one response; make the client reconnect too
        except OSError:
            pass
        finally:
            with self._lock:
                self._clients.discard(client)
            with contextlib.suppress(OSError):
                client.close()

    def _forward(self, method: str, path: str, headers: list[str], body: bytes) -> bytes:
        kept = [h for h in headers if h.split(":", 1)[0].strip().lower() != "connection"]
        request = "\r\n".join([f"{method} {path} HTTP/1.1", *kept, "Connection: close", "", ""])
        with socket.create_connection(self.upstream, timeout=30) as upstream:
            upstream.sendall(request.encode("latin-1") + body)
            chunks = []
            while chunk := upstream.recv(65536):
                chunks.append(chunk)
        response = b"".join(chunks)
        # Tell the client this connection ends here, as it does.
        head, _, rest = response.partition(b"\r\n\r\n")
        head_lines = [
            line for line in head.split(b"\r\n") if not line.lower().startswith(b"connection:")
        ]
        return b"\r\n".join([*head_lines, b"Connection: close"]) + b"\r\n\r\n" + rest
