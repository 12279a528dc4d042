"""The first conditional GET of an HTTP index, on the standard library's ``http.client``.

A no-op sync is one request: a conditional GET of ``index.json`` that the server answers 304.
In a fresh process, importing urllib3 for it costs about 35 ms (its ``http2`` module alone
loads ``importlib.metadata``), a third of the whole command.  This module makes that one
request with ``http.client``, which the interpreter has anyway, and handles only the answers
a no-op expects: 304, and 200 with a body read to its Content-Length (``http.client`` raises
``IncompleteRead`` on a short one).  Anything else (another status, a redirect, a refused
connection, a timeout) is handed back: the caller makes the request again on urllib3's pool,
whose retries and messages stay the only ones.
"""

from __future__ import annotations

import http.client
import ssl
from dataclasses import dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class FirstAnswer:
    """A 304 or a complete 200."""

    status: int
    etag: str | None
    body: bytes


def conditional_get(url: str, headers: dict[str, str], *, timeout: float) -> FirstAnswer | str:
    """One GET of ``url`` on a fresh connection: the answer, or why it is handed back."""
    parts = urlsplit(url)
    connection: http.client.HTTPConnection
    if parts.scheme == "https":
        # Verified against the system's CAs, with hostname checks, as urllib3 does.
        connection = http.client.HTTPSConnection(
            parts.netloc, timeout=timeout, context=ssl.create_default_context()
        )
    else:
        connection = http.client.HTTPConnection(parts.netloc, timeout=timeout)
    try:
        connection.request("GET", parts.path, headers={"User-Agent": "dioptra-plugins", **headers})
        response = connection.getresponse()
        if response.status not in (200, 304):
            return f"HTTP {response.status}"
        body = response.read() if response.status == 200 else b""
        return FirstAnswer(response.status, response.getheader("ETag"), body)
    except (OSError, http.client.HTTPException, ValueError) as error:
        # ValueError: a path http.client will not send as it is (urllib3 would quote it).
        return f"{type(error).__name__}: {error}"
    finally:
        connection.close()
