"""Running a command with its stderr on a real pseudo-terminal (progress shows only on one)."""

from __future__ import annotations

import os
import pty
import subprocess
from collections.abc import Sequence


def run_on_a_terminal(command: Sequence[str], timeout: float = 60) -> tuple[int, bytes]:
    """(exit code, everything written to the terminal) of ``command`` run with stderr on a pty."""
    leader, follower = pty.openpty()
    try:
        done = subprocess.run(
            list(command), stderr=follower, stdout=subprocess.PIPE, timeout=timeout, check=False
        )
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO once the terminal's other end is closed and drained
                break
            if not chunk:
                break
            shown += chunk
    finally:
        os.close(leader)
    return done.returncode, shown
