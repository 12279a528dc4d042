"""Where things live inside a plugin dir (DESIGN §5): the only code that knows the layout.

$DIOPTRA_PLUGIN_DIR/
  dioptra_builtins -> .dioptra-plugins/current/dioptra_builtins   stable entry links
  .dioptra-plugins/
    current -> generations/000042                                 the one switch
    generations/000042/{dioptra_builtins -> ../../store/<sha256>/dioptra_builtins,
                        dioptra_custom/                             a merged namespace
                          {fgm_plugins -> ../../../store/<sha256>/dioptra_custom/fgm_plugins,
                           feature_squeezing -> ../../../store/<sha>/dioptra_custom/...},
                        pylock.toml}
    store/<sha256>/...                                            verified, read-only
    store/<sha256>/.bytecode.json                                 the pycs sync compiled
    cache/.tmp-*                                                  a big download read out of order
    cache/<sha256>/<wheel>                                        old releases; gc removes them
    cache/documents/<sha256>.json, root.json                      project documents, last root
    pins/<pid>-<token>.json                                       generations in use
    state.json   lock   id                                        last sync, writer lock, dir id

Pins (``pins/``, and the runtime pin dir for read-only dirs) are :mod:`.pins`' business.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

from dioptra_plugins.errors import UsageError

logger = logging.getLogger(__name__)

META_DIR = ".dioptra-plugins"
DOCUMENTS_DIR = "documents"
ROOT_COPY = "root.json"
LOCK_FILENAME = "pylock.toml"
"""A generation's lock (PEP 751), beside its links."""
"""The last root a sync accepted, kept beside the documents so gc knows which are still named."""
PLUGIN_DIR_VARIABLE = "DIOPTRA_PLUGIN_DIR"
PIN_DIR_VARIABLE = "DIOPTRA_PLUGINS_PIN_DIR"
STAGING_PREFIX = ".staging-"
"""A store entry being extracted: ``store/.staging-*``, renamed to its sha256 when complete."""
BUILDING_PREFIX = ".building-"
"""A generation being built: ``generations/.building-*``, renamed to its number when complete."""
TEMPORARY_PREFIX = ".tmp-"
"""A file being written (``cache/.tmp-*``: a big download; documents); never read as done."""


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
            import tempfile  # not at the top: a no-op sync never needs it

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
        from dioptra_plugins.hashing import (
            sha256_hex,  # not at the top: a no-op sync never needs it
        )

        return sha256_hex(os.fsencode(os.path.realpath(self.root)))[:32]

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

    def current_name(self) -> str | None:
        """The name of the generation ``current`` points at (``000042``); None if unsynced."""
        try:
            return Path(os.readlink(self.current)).name
        except OSError:
            return None

    def current_generation(self) -> Path | None:
        """The generation directory ``current`` points at right now, resolved; None if unsynced."""
        try:
            target = os.readlink(self.current)
        except OSError:
            return None
        return (self.meta / target).resolve()

    def generation_path(self, name: str) -> Path:
        return self.generations / name

    def store_entry(self, sha256: str) -> Path:
        return self.store / sha256

    @staticmethod
    def package_dir(top_level: str) -> str:
        """Where import package ``top_level`` lives in a generation or store entry, relative:
        ``dioptra_builtins``, or ``dioptra_custom/fgm_plugins`` for a namespace portion.

        ``top_level`` must be a checked dotted import name (identifiers only, so no ``..``).
        """
        return top_level.replace(".", "/")

    @staticmethod
    def entry_name(top_level: str) -> str:
        """The top-level name import package ``top_level`` is found under (its first part)."""
        return top_level.split(".", 1)[0]

    @staticmethod
    def store_link(sha256: str, top_level: str) -> str:
        """What a generation's link to an import package in the store says (relative).

        A regular or namespace package is linked at the top of the generation; a namespace
        portion inside the namespace's real directory there, so its link climbs one level more
        per part: ``dioptra_custom/fgm_plugins -> ../../../store/<sha256>/dioptra_custom/
        fgm_plugins``.  Portions of one namespace from several bundles so merge into one
        directory that imports as one namespace.
        """
        depth = top_level.count(".") + 2
        return "../" * depth + f"store/{sha256}/{PluginDirLayout.package_dir(top_level)}"

    @staticmethod
    def namespace_dirs(top_levels: Iterable[str]) -> list[str]:
        """The real directories a generation holding ``top_levels`` has: every namespace that
        portions merge into (``dioptra_custom`` for ``dioptra_custom.fgm_plugins``), relative,
        parents first."""
        found: set[str] = set()
        for top_level in top_levels:
            parts = top_level.split(".")
            found.update("/".join(parts[:end]) for end in range(1, len(parts)))
        return sorted(found, key=lambda d: (d.count("/"), d))

    @staticmethod
    def entry_link(top_level: str) -> str:
        """What a stable entry link at the top of the plugin dir says: it follows ``current``.

        One per top-level name: a namespace split into portions has one entry link, to its
        merged directory in the current generation.
        """
        return f"{META_DIR}/current/{PluginDirLayout.entry_name(top_level)}"

    def remove_leftovers(self) -> None:
        """Delete what interrupted writers left behind (never anything a generation uses)."""
        for directory, prefix in (
            (self.generations, BUILDING_PREFIX),
            (self.store, STAGING_PREFIX),
            (self.cache, TEMPORARY_PREFIX),
            (self.documents, TEMPORARY_PREFIX),
            (self.meta, ".current.tmp-"),
            (self.meta, ".state.json.tmp-"),
            (self.meta, ".id.tmp-"),
        ):
            try:
                entries = list(os.scandir(directory))
            except OSError:
                continue
            for entry in entries:
                if entry.name.startswith(prefix):
                    if entry.is_dir(follow_symlinks=False):
                        import shutil  # not at the top: a no-op sync never needs it

                        shutil.rmtree(entry.path, ignore_errors=True)
                    else:
                        with contextlib.suppress(FileNotFoundError):
                            os.unlink(entry.path)


def default_plugin_dir(plugin_dir: str | os.PathLike[str] | None) -> str | None:
    """``plugin_dir`` if given, else ``$DIOPTRA_PLUGIN_DIR``; None when that is empty too: the
    one place the library reads the variable for the dir it writes (an empty ``plugin_dir``
    given on purpose is not replaced by the variable)."""
    chosen = (
        os.fspath(plugin_dir) if plugin_dir is not None else os.environ.get(PLUGIN_DIR_VARIABLE)
    )
    return chosen or None


def no_plugin_dir(needed_for: str = "") -> UsageError:
    """The error when neither ``plugin_dir`` nor the variable names one (``needed_for``: what
    wanted it)."""
    what = f"{needed_for} needs a plugin dir" if needed_for else "no plugin dir"
    return UsageError(
        f"{what}: pass `plugin_dir` or set ${PLUGIN_DIR_VARIABLE}", parameters=("plugin_dir",)
    )


def writable_plugin_dir(plugin_dir: str | os.PathLike[str] | None) -> PluginDirLayout:
    """The one plugin dir a sync, gc or rollback works on: ``plugin_dir`` or the variable."""
    text = default_plugin_dir(plugin_dir)
    if text is None:
        raise no_plugin_dir()
    if os.pathsep in text:
        raise UsageError(f"sync writes one plugin dir, not a list: {text!r}")
    return PluginDirLayout(Path(text).absolute())


def synced_plugin_dir(plugin_dir: str | os.PathLike[str] | None) -> PluginDirLayout:
    """Like :func:`writable_plugin_dir`, for commands that need a synced dir (list, verify...)."""
    from dioptra_plugins.errors import PluginDirError

    layout = writable_plugin_dir(plugin_dir)
    if not layout.is_synced():
        raise PluginDirError(f"{layout.root} is not a synced plugin dir (no {layout.current})")
    return layout


def readable_plugin_dirs(value: str | Sequence[str | os.PathLike[str]] | None) -> list[Path]:
    """The absolute, existing directories in ``value`` (``:``-separated), without duplicates.

    ``None`` reads ``$DIOPTRA_PLUGIN_DIR``.  Relative or missing entries are skipped with a
    warning rather than put on the path, where they would silently import from the cwd.
    """
    if value is None:
        value = os.environ.get(PLUGIN_DIR_VARIABLE, "")
    items = value.split(os.pathsep) if isinstance(value, str) else [os.fspath(v) for v in value]
    found: list[Path] = []
    for item in items:
        if not item:
            continue
        path = Path(item)
        if not path.is_absolute():
            logger.warning("ignoring plugin dir %r: not an absolute path", item)
        elif not path.is_dir():
            logger.warning("ignoring plugin dir %r: not an existing directory", item)
        elif path not in found:
            found.append(path)
    return found
