"""A SeaweedFS on loopback for a benchmark: the tests' server, sized for benchmark bundles."""

from __future__ import annotations

import contextlib
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))

import s3servers


def seaweedfs_bucket(stack: contextlib.ExitStack, work: Path, bucket: str) -> tuple[str, Any]:
    """Start SeaweedFS under ``stack``, point this process's AWS settings at it, and create
    ``bucket``: the index URL ``s3://<bucket>/plugins`` and the server (its ``pid`` for CPU)."""
    # The tests' 8 MB volumes fill with benchmark bundles; bench_sync.py uses 1 GB too.
    s3servers.SEAWEEDFS_VOLUME_SIZE_LIMIT_MB = 1024
    server = stack.enter_context(
        s3servers.running_seaweedfs(
            work / "seaweedfs", access_key="bench-key", secret_key="bench-secret"
        )
    )
    os.environ.update(server.env())
    return f"s3://{server.create_bucket(bucket)}/plugins", server
