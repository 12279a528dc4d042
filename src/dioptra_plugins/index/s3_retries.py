"""Why botocore retries an S3 request, said once per retry: what, which attempt, and why.

botocore's own retry handler decides (standard or adaptive mode); these two event handlers only
remember why an attempt failed (``needs-retry``) and log it when the next attempt is created
(``request-created``), with host and path only: no user info, and no query (a presigned
signature) in the log.
"""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urlsplit

from dioptra_plugins.index.aws_configuration import redact

# Named as the storage it serves: users see (and filter) the S3 storage's retries under this name.
log = logging.getLogger("dioptra_plugins.index.s3")

_FAILURE_CONTEXT_KEY = "dioptra_plugins_last_failure"


def remember_failure(
    request_dict: dict[str, Any],
    response: tuple[Any, dict[str, Any]] | None = None,
    caught_exception: Exception | None = None,
    **_kwargs: Any,
) -> None:
    """needs-retry: note why this attempt failed, for the log line of the next one."""
    reason: str | None = None
    if caught_exception is not None:
        reason = f"{type(caught_exception).__name__}: {caught_exception}"
    elif response is not None:
        status = int(getattr(response[0], "status_code", 0) or 0)
        if status >= 400:
            error = response[1].get("Error", {}) if isinstance(response[1], dict) else {}
            reason = f"HTTP {status} {error.get('Code', '')}".rstrip()
    if reason is not None:
        request_dict.setdefault("context", {})[_FAILURE_CONTEXT_KEY] = redact(reason)


class RetryLog:
    """request-created: a second or later attempt is a retry; say what, which and why."""

    def __init__(self, attempts: int) -> None:
        self.attempts = attempts

    def __call__(self, request: Any, operation_name: str = "", **_kwargs: Any) -> None:
        context = getattr(request, "context", None) or {}
        retries = context.get("retries") or {}
        attempt = int(retries.get("attempt") or 1)
        if attempt < 2:
            return
        parts = urlsplit(str(getattr(request, "url", "")))
        port = f":{parts.port}" if parts.port else ""
        log.warning(
            "retrying S3 %s %s://%s%s%s (attempt %d of %s) after %s",
            operation_name,
            parts.scheme,
            parts.hostname,
            port,
            parts.path,
            attempt,
            retries.get("max", self.attempts),
            context.get(_FAILURE_CONTEXT_KEY, "a retryable failure"),
        )
