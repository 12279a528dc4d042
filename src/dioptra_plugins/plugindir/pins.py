"""Generation pins: "this process runs generation N", so gc keeps N until the process lets go.

Pins are written into the plugin dir, where a gc run by any process sees them.  A plugin dir
mounted read-only (a job reading a sidecar-synced dir) cannot take them, so its pins go to the
runtime pin dir instead: ``$DIOPTRA_PLUGINS_PIN_DIR`` when set (then always; point it at a
directory the gc-running process also sees), else ``$XDG_RUNTIME_DIR/dioptra-plugins``, else
``<tmp>/dioptra-plugins-<uid>``, one subdirectory per plugin dir.  gc reads all of them.

A pin is a small JSON file named by pid and a random token, written atomically; a pin whose pid
is dead is ignored (and later deleted) by gc, so a crashed job never keeps a generation forever.
:class:`PinnedGeneration` is the one way to pin ``current``: pin first, then check that the
generation still exists (a gc that ran between reading ``current`` and pinning may have taken
it; after the pin no gc will).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import secrets
from collections.abc import Iterator
from pathlib import Path

from dioptra_plugins.errors import PluginDirError
from dioptra_plugins.fsutil import write_atomic
from dioptra_plugins.plugindir.layout import PIN_DIR_VARIABLE, PluginDirLayout

logger = logging.getLogger(__name__)

# Errors that mean "this directory cannot take a pin file", not "something is broken".
_CANNOT_WRITE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}
_ATTEMPTS = 5


def pid_alive(pid: int) -> bool:
    """Whether a process with this pid exists (signal 0 probes without signalling)."""
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _write_pin(directory: Path, pid: int, generation: str) -> Path:
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    pin = directory / f"{pid}-{secrets.token_hex(4)}.json"
    # Not durable (a pin protects a process, which a crash ends too), and its temporary named
    # <pid>-<token>.tmp so that remove_dead_pins collects a half-written one by its pid.
    data = json.dumps({"pid": pid, "generation": generation}).encode()
    write_atomic(pin, data, durable=False, temporary=pin.with_suffix(".tmp").name)
    return pin


@contextlib.contextmanager
def pin_generation(layout: PluginDirLayout, generation: Path) -> Iterator[Path | None]:
    """Record that this process uses ``generation`` until the block exits; gc respects it.

    The pin is a small JSON file named by pid and a random token, written atomically; a pin
    whose pid is dead is ignored by gc, so a crashed job never keeps a generation forever.
    Yields the pin file, or None when no pin dir could take one (then a warning is logged and
    the job runs unpinned: gc still never collects the current or the previous generation).
    """
    pid = os.getpid()
    pin: Path | None = None
    failures = []
    for directory in layout.pin_dirs():
        try:
            pin = _write_pin(directory, pid, generation.name)
            break
        except OSError as error:
            if error.errno not in _CANNOT_WRITE:
                raise PluginDirError(f"cannot pin generation {generation.name}: {error}") from error
            failures.append(f"{directory}: {error.strerror}")
    if pin is None:
        logger.warning(
            "running unpinned on generation %s of %s: no pin dir is writable (%s); set $%s",
            generation.name,
            layout.root,
            "; ".join(failures),
            PIN_DIR_VARIABLE,
        )
    elif pin.parent != layout.pins:
        logger.debug("pinned generation %s in %s", generation.name, pin)
    try:
        yield pin
    finally:
        if pin is not None:
            with contextlib.suppress(OSError):
                pin.unlink()


class PinnedGeneration:
    """The current generation of a synced plugin dir, pinned for as long as this object holds.

    Creating it reads ``current`` and pins what it points at (pin first, then check it still
    exists, retried if a sync and a gc got in between).  :meth:`advance` moves the pin to the
    generation ``current`` points at now.  Use it as a context manager, or call :meth:`release`.
    """

    def __init__(self, layout: PluginDirLayout) -> None:
        self.layout = layout
        self.path, self._pin = self._pin_current()

    @property
    def name(self) -> str:
        return self.path.name

    def advance(self) -> Path | None:
        """Pin the generation now current if it changed, then release the old one.

        Returns the old generation's path when the pin moved, else None.
        """
        now = self.layout.current_generation()
        if now is None or now == self.path or not now.is_dir():
            return None
        path, pin = self._pin_current()
        old = self.path
        self._release()
        self.path, self._pin = path, pin
        return old

    def release(self) -> None:
        self._release()

    def __enter__(self) -> PinnedGeneration:
        return self

    def __exit__(self, *_exc: object) -> None:
        self._release()

    def _release(self) -> None:
        self._pin.close()

    def _pin_current(self) -> tuple[Path, contextlib.ExitStack]:
        for _ in range(_ATTEMPTS):
            generation = self.layout.current_generation()
            if generation is None or not generation.is_dir():
                raise PluginDirError(
                    f"{self.layout.root}: 'current' does not point at a generation"
                )
            stack = contextlib.ExitStack()
            stack.enter_context(pin_generation(self.layout, generation))
            if generation.is_dir():  # still there after pinning: gc can no longer take it
                return generation, stack
            stack.close()
        raise PluginDirError(f"{self.layout.root}: the current generation kept changing; try again")


def pinned_generations(layout: PluginDirLayout, *, strict: bool = False) -> set[str]:
    """Names of generations pinned by live processes (pins of dead pids are ignored).

    With ``strict`` (gc), a pin file that cannot be read raises PluginDirError instead of being
    skipped: it may pin a generation, so nothing may be collected until it is understood.
    """
    pinned: set[str] = set()
    for directory in layout.pin_dirs():
        try:
            pins = sorted(directory.glob("*.json"))
        except OSError:
            continue
        for pin in pins:
            try:
                data = json.loads(pin.read_text())
                pid, generation = int(data["pid"]), str(data["generation"])
            except FileNotFoundError:
                continue  # its process just let go
            except (OSError, ValueError, KeyError, TypeError) as error:
                if strict:
                    raise PluginDirError(
                        f"gc refused, nothing was deleted: pin {pin} cannot be read ({error}); "
                        "delete it if no job uses this plugin dir"
                    ) from error
                continue
            if pid_alive(pid):
                pinned.add(generation)
    return pinned


def remove_dead_pins(layout: PluginDirLayout) -> None:
    """Delete pins (and half-written ``.tmp`` pins) of processes that no longer exist."""
    for directory in layout.pin_dirs():
        try:
            files = list(directory.iterdir())
        except OSError:
            continue
        for pin in files:
            if pin.suffix not in (".json", ".tmp"):
                continue
            try:
                pid = int(pin.name.split("-", 1)[0])
            except ValueError:
                continue
            if not pid_alive(pid):
                with contextlib.suppress(OSError):
                    pin.unlink()
