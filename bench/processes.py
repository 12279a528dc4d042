"""Honest CPU accounting for the benchmarks: every descendant's CPU seconds, orphans included.

A sync compiles bytecode in helper processes that a daemon thread reaps; a CLI process that
exits first leaves them to whoever adopts orphans, and their CPU would vanish from
``RUSAGE_CHILDREN``.  :func:`become_subreaper` makes this process adopt them (Linux
``PR_SET_CHILD_SUBREAPER``), and :func:`run_measured` reaps them after each command, so the CPU
a command reports is all of its work.
"""

from __future__ import annotations

import contextlib
import ctypes
import os
import resource
import subprocess
import time
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from pathlib import Path

PR_SET_CHILD_SUBREAPER = 36


def become_subreaper() -> bool:
    """Adopt orphaned descendants (Linux only); False where the call is not available."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        return int(libc.prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)) == 0
    except (OSError, AttributeError):
        return False


def children_cpu() -> float:
    """CPU seconds (user + system) of every descendant reaped so far."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def process_cpu(pid: int | None) -> float:
    """CPU seconds (user + system, all threads) a running process has used so far; 0 if unknown."""
    if pid is None:
        return 0.0
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rpartition(")")[2].split()
    except OSError:
        return 0.0
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def child_pids(parent: int | None = None) -> list[int]:
    """The pids whose parent is ``parent`` (default: this process), zombies included."""
    parent = os.getpid() if parent is None else parent
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            fields = Path(f"/proc/{entry}/stat").read_text().rpartition(")")[2].split()
        except OSError:
            continue
        if int(fields[1]) == parent:
            found.append(int(entry))
    return found


def reap_orphans(keep: Collection[int] = (), timeout: float = 60.0) -> None:
    """Wait for every child of this process except ``keep`` (servers) to exit, and reap it."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        pending = [pid for pid in child_pids() if pid not in keep]
        if not pending:
            return
        for pid in pending:
            with contextlib.suppress(ChildProcessError):  # reaped meanwhile by its own Popen
                os.waitpid(pid, 0)


@dataclass(frozen=True)
class Measured:
    wall: float  # seconds from start until the command returned
    cpu: float  # CPU seconds of the command and everything it started
    stdout: str


def run_measured(
    command: Sequence[str],
    *,
    env: dict[str, str] | None = None,
    keep: Collection[int] = (),
) -> Measured:
    """Run ``command`` to the end; its wall time and the CPU of it and all its descendants."""
    reap_orphans(keep)
    cpu_before = children_cpu()
    started = time.perf_counter()
    done = subprocess.run(list(command), capture_output=True, text=True, env=env, check=False)
    wall = time.perf_counter() - started
    reap_orphans(keep)
    if done.returncode != 0:
        raise RuntimeError(f"{list(command)[:3]} failed ({done.returncode}): {done.stderr[-2000:]}")
    return Measured(wall, children_cpu() - cpu_before, done.stdout)
