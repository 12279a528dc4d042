"""The registry tests' fixture types: a plugin area on ``sys.path`` and a reload-event log.

The fixtures themselves are in ``conftest.py``; the classes live here so that the test modules
can import them (by bare name, like every test directory's helpers) to annotate fixtures.
"""

from __future__ import annotations

import itertools
import os
import queue
import textwrap
import time
from collections.abc import Callable
from pathlib import Path

from dioptra_plugins.registry.registry import Registry
from dioptra_plugins.registry.reload import ReloadEvent

# Package names unique within the test process (modules stay apart in sys.modules) and the same
# on every run, so a failure names the same packages when it is run again.
_NUMBERS = itertools.count(1)


class PluginArea:
    """A directory on ``sys.path`` to write plugin packages into."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self.packages: list[str] = []

    def package(self, files: dict[str, str], prefix: str = "pkg") -> str:
        """Write a package (``__init__.py`` added if missing); returns its unique name."""
        name = f"{prefix}_{next(_NUMBERS):04d}"
        self.packages.append(name)
        (self.root / name).mkdir()
        files = {"__init__.py": "", **files}
        for relative, text in files.items():
            self.write(f"{name}/{relative}", text)
        return name

    def path(self, relative: str) -> Path:
        return self.root / relative

    def write(self, relative: str, text: str, style: str = "inplace") -> Path:
        """Save ``text`` the way an editor would: in place, rename-over, or vim-style."""
        path = self.root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        data = textwrap.dedent(text).encode()
        if style == "inplace" or not path.exists():
            with open(path, "wb") as handle:
                handle.write(data)
        elif style == "replace":  # write a temp file, then os.replace it over the original
            temp = path.with_name(f".{path.name}.{next(_NUMBERS)}.tmp")
            temp.write_bytes(data)
            os.replace(temp, path)
        elif style == "vim":  # rename the original away, create a new file
            backup = path.with_name(path.name + "~")
            os.rename(path, backup)
            path.write_bytes(data)
            backup.unlink()
        else:
            raise ValueError(style)
        return path


class EventLog:
    """Collects a registry's reload events; waits for them with a deadline (never sleeps blind)."""

    def __init__(self, registry: Registry) -> None:
        self.events: queue.Queue[ReloadEvent] = queue.Queue()
        self.seen: list[ReloadEvent] = []
        self.unsubscribe = registry.subscribe(self.events.put)

    def wait(self, predicate: Callable[[ReloadEvent], bool], timeout: float = 30) -> ReloadEvent:
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise AssertionError(f"no matching reload event; saw {self.seen}")
            try:
                event = self.events.get(timeout=remaining)
            except queue.Empty:
                continue
            self.seen.append(event)
            if predicate(event):
                return event

    def drain(self, quiet: float) -> list[ReloadEvent]:
        """Every event arriving until ``quiet`` seconds pass without one."""
        found: list[ReloadEvent] = []
        while True:
            try:
                event = self.events.get(timeout=quiet)
            except queue.Empty:
                return found
            self.seen.append(event)
            found.append(event)
