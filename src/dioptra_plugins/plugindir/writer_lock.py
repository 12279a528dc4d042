"""The exclusive lock that serializes every writer of one plugin dir.

A sync, a rollback and a gc each hold ``.dioptra-plugins/lock`` (an ``fcntl.flock``) for their
whole duration.  The kernel drops the lock when its holder dies, so a ``kill -9`` never leaves
the dir locked.  The holder writes its pid into the file so that a waiter that times out can
say who holds it.
"""

from __future__ import annotations

import contextlib
import fcntl
import logging
import os
import time
from collections.abc import Iterator
from pathlib import Path

from dioptra_plugins.errors import LockTimeoutError, PluginDirError

_POLL_SECONDS = 0.02

logger = logging.getLogger(__name__)


def _holder_pid(descriptor: int) -> int | None:
    try:
        text = os.pread(descriptor, 64, 0).decode("ascii", "replace").strip()
        return int(text) if text else None
    except (OSError, ValueError):
        return None


@contextlib.contextmanager
def writer_lock(lock_file: Path, timeout: float = 60.0) -> Iterator[None]:
    """Hold the exclusive lock on ``lock_file`` for the block; wait at most ``timeout`` seconds.

    Raises LockTimeoutError naming the holder's pid when the wait runs out.
    """
    try:
        lock_file.parent.mkdir(parents=True, exist_ok=True)
        descriptor = os.open(lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as error:
        # A read-only mount, a file where the dir should be, no permission: nothing can write.
        raise PluginDirError(
            f"cannot lock plugin dir {lock_file.parent.parent} for writing: "
            f"{error.strerror or error} (sync, rollback and gc write to the plugin dir; a "
            "read-only plugin dir can only be read: tasks, call, run --no-sync, plugin_dirs())"
        ) from error
    try:
        deadline = time.monotonic() + timeout
        announced = False
        while True:
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
                break
            except BlockingIOError:
                if not announced:
                    # Once, so that a user watching a slow start knows what it waits for.
                    holder = _holder_pid(descriptor)
                    logger.warning(
                        "waiting for %s holding plugin dir %s (up to %g s)",
                        f"pid {holder}" if holder else "another process",
                        lock_file.parent.parent,
                        timeout,
                    )
                    announced = True
                if time.monotonic() >= deadline:
                    raise LockTimeoutError(
                        path=str(lock_file.parent.parent),
                        timeout=timeout,
                        holder=_holder_pid(descriptor),
                    ) from None
                time.sleep(_POLL_SECONDS)
        os.ftruncate(descriptor, 0)
        os.pwrite(descriptor, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            # Clear the pid before unlocking so nobody blames a process that already let go.
            with contextlib.suppress(OSError):
                os.ftruncate(descriptor, 0)
            fcntl.flock(descriptor, fcntl.LOCK_UN)
    finally:
        os.close(descriptor)
