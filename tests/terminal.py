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


def run_in_terminal(
    command: Sequence[str],
    *,
    columns: int = 80,
    rows: int = 24,
    env: dict[str, str] | None = None,
    timeout: float = 60,
) -> tuple[int, str]:
    """(exit code, what the screen showed) of ``command`` with stdout and stderr on one real
    pseudo-terminal of ``columns`` x ``rows``, as a person at an 80-column terminal sees it."""
    import fcntl
    import struct
    import termios

    leader, follower = pty.openpty()
    fcntl.ioctl(follower, termios.TIOCSWINSZ, struct.pack("HHHH", rows, columns, 0, 0))
    environment = dict(os.environ if env is None else env)
    environment.pop("COLUMNS", None)  # the window size, not the variable, must decide
    try:
        process = subprocess.Popen(list(command), stdout=follower, stderr=follower, env=environment)
        os.close(follower)
        shown = b""
        while True:
            try:
                chunk = os.read(leader, 4096)
            except OSError:  # EIO once every writer is gone and the output is drained
                break
            if not chunk:
                break
            shown += chunk
        code = process.wait(timeout=timeout)
    finally:
        os.close(leader)
    # The terminal turns "\n" into "\r\n"; a bare "\r" redraws the line (progress lines).
    return code, shown.decode("utf-8", "replace").replace("\r\n", "\n")
