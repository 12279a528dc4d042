"""Where things live inside a synced plugin dir (DESIGN §5), and generation pins.

$DIOPTRA_PLUGIN_DIR/
  dioptra_builtins -> .dioptra-plugins/current/dioptra_builtins   stable entry links
  .dioptra-plugins/
    current -> generations/000042                                 the one switch
    generations/000042/{dioptra_builtins -> ../../store/<sha256>/dioptra_builtins,
                        pylock.toml}
    store/<sha256>/...                                            verified, read-only
    cache/<sha256>.whl                                            downloaded bundles
    pins/<pid>-<token>.json                                       generations in use
    state.json   lock
"""

from __future__ import annotations

import contextlib
import json
import os
import secrets
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

META_DIR = ".dioptra-plugins"


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
    def pins(self) -> Path:
        return self.meta / "pins"

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


@contextlib.contextmanager
def pin_generation(layout: PluginDirLayout, generation: Path) -> Iterator[Path]:
    """Record that this process uses ``generation`` until the block exits; gc respects it.

    The pin is a small JSON file named by pid and a random token, written atomically; a pin
    whose pid is dead is ignored by gc, so a crashed job never keeps a generation forever.
    """
    layout.pins.mkdir(parents=True, exist_ok=True)
    pid = os.getpid()
    pin = layout.pins / f"{pid}-{secrets.token_hex(4)}.json"
    tmp = pin.with_suffix(".tmp")
    tmp.write_text(json.dumps({"pid": pid, "generation": generation.name}))
    os.replace(tmp, pin)
    try:
        yield pin
    finally:
        with contextlib.suppress(FileNotFoundError):
            pin.unlink()


def pinned_generations(layout: PluginDirLayout) -> set[str]:
    """Names of generations pinned by live processes (pins of dead pids are ignored)."""
    pinned: set[str] = set()
    if not layout.pins.is_dir():
        return pinned
    for pin in layout.pins.glob("*.json"):
        try:
            data = json.loads(pin.read_text())
            pid, generation = int(data["pid"]), str(data["generation"])
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if pid_alive(pid):
            pinned.add(generation)
    return pinned
