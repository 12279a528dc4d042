"""Where things live inside a synced plugin dir (DESIGN §5), and generation pins.

$DIOPTRA_PLUGIN_DIR/
  dioptra_builtins -> .dioptra-plugins/current/dioptra_builtins   stable entry links
  .dioptra-plugins/
    current -> generations/000042                                 the one switch
    generations/000042/{dioptra_builtins -> ../../store/<sha256>/dioptra_builtins,
                        pylock.toml}
    store/<sha256>/...                                            verified, read-only
    cache/<sha256>/<wheel>                                        downloaded bundles
    cache/documents/<sha256>.json, root.json                      project documents, last root
    pins/<pid>-<token>.json                                       generations in use
    state.json   lock

Pins are written into the plugin dir, where a gc run by any process sees them.  A plugin dir
mounted read-only (a job reading a sidecar-synced dir) cannot take them, so its pins go to the
runtime pin dir instead: ``$DIOPTRA_PLUGINS_PIN_DIR`` when set (then always; point it at a
directory the gc-running process also sees), else ``$XDG_RUNTIME_DIR/dioptra-plugins``, else
``<tmp>/dioptra-plugins-<uid>``, one subdirectory per plugin dir.  gc reads all of them.
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import json
import logging
import os
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from dioptra_plugins.errors import PluginDirError

logger = logging.getLogger(__name__)

META_DIR = ".dioptra-plugins"
DOCUMENTS_DIR = "documents"
ROOT_COPY = "root.json"
"""The last root a sync accepted, kept beside the documents so gc knows which are still named."""
PIN_DIR_VARIABLE = "DIOPTRA_PLUGINS_PIN_DIR"
# Errors that mean "this directory cannot take a pin file", not "something is broken".
_CANNOT_WRITE = {errno.EROFS, errno.EACCES, errno.EPERM, errno.ENOSPC, errno.EDQUOT}


@dataclass(frozen=True)
class PluginDirLayout:
    """Paths of one plugin dir; creating the object touches nothing on disk."""

    root: Path

    @property
    def meta(self) -> Path:
        return self.root / META_DIR

    @property
    def current(self) -> Path:
        return self.meta / "current"

    @property
    def generations(self) -> Path:
        return self.meta / "generations"

    @property
    def store(self) -> Path:
        return self.meta / "store"

    @property
    def cache(self) -> Path:
        return self.meta / "cache"

    @property
    def documents(self) -> Path:
        return self.cache / DOCUMENTS_DIR

    @property
    def pins(self) -> Path:
        return self.meta / "pins"

    @property
    def runtime_pins(self) -> Path:
        """Where pins go when the plugin dir cannot take them (see the module docstring)."""
        configured = os.environ.get(PIN_DIR_VARIABLE)
        if configured:
            base = Path(configured)
        elif os.environ.get("XDG_RUNTIME_DIR"):
            base = Path(os.environ["XDG_RUNTIME_DIR"], "dioptra-plugins")
        else:
            base = Path(tempfile.gettempdir(), f"dioptra-plugins-{os.getuid()}")
        return base / self.identity()

    @property
    def identity_file(self) -> Path:
        return self.meta / "id"

    def identity(self) -> str:
        """A name for this plugin dir that is the same through every mount of it.

        Sync writes a random id into the dir once; a read-only bind mount in a job container
        shows the same id as the sidecar's writable path, so both find the same runtime pins.
        A dir without one (never synced by this version) is named by its real path.
        """
        with contextlib.suppress(OSError, UnicodeDecodeError):
            text = self.identity_file.read_text(encoding="ascii").strip()
            if len(text) == 32 and all(c in "0123456789abcdef" for c in text):
                return text
        return hashlib.sha256(os.fsencode(os.path.realpath(self.root))).hexdigest()[:32]

    def pin_dirs(self) -> list[Path]:
        """Every directory that may hold pins of this plugin dir, preferred first."""
        if os.environ.get(PIN_DIR_VARIABLE):
            return [self.runtime_pins, self.pins]
        return [self.pins, self.runtime_pins]

    @property
    def state_file(self) -> Path:
        return self.meta / "state.json"

    @property
    def lock_file(self) -> Path:
        return self.meta / "lock"

    def is_synced(self) -> bool:
        """True when this dir is managed by sync (it has a ``current`` generation link)."""
        return self.current.is_symlink()

    def current_generation(self) -> Path | None:
        """The generation directory ``current`` points at right now, resolved; None if unsynced."""
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        return (self.meta / target).resolve()

    def generation_path(self, name: str) -> Path:
        return self.generations / name


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
    tmp = pin.with_suffix(".tmp")
    try:
        tmp.write_text(json.dumps({"pid": pid, "generation": generation}))
        os.replace(tmp, pin)
    except BaseException:
        with contextlib.suppress(OSError):
            tmp.unlink()
        raise
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
