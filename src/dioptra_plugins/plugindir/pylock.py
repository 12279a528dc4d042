"""The lock of a generation, written as a PEP 751-shaped ``pylock.toml``.

It names every bundle of the generation with its version, URL, size and sha256, which is all
``sync --locked`` needs to rebuild the same set byte for byte, and what a job records as the
exact plugin code it ran.  Sync-specific facts (generation, index serial, requirements, the
import package of each bundle, dotted for a namespace portion: ``dioptra_custom.fgm_plugins``)
live under ``[tool.dioptra-plugins]`` tables, as PEP 751 allows; so does the commit a bundle was
built from (``[packages.tool.dioptra-plugins.provenance]``: vcs, url, commit, subdirectory,
tree, dirty), copied from the bundle's own manifest, so a job's lock names its source code.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import quote_from_bytes

from packaging.version import InvalidVersion, Version

from dioptra_plugins.errors import LockFileError as LockFileError  # re-exported (was here)
from dioptra_plugins.errors import UsageError
from dioptra_plugins.index.keys import is_normalized_name, is_sha256
from dioptra_plugins.plugindir.toml_text import package_entry

LOCK_VERSION = "1.0"
TOOL = "dioptra-plugins"
_MISSING = object()


@dataclass(frozen=True)
class LockedPackage:
    """One bundle of a generation."""

    name: str
    version: str
    filename: str
    sha256: str
    size: int
    top_level: str
    """Empty for a package of a lock another tool wrote: sync takes it from the index."""
    index: str
    url: str
    foreign: bool = False
    """Written by another tool (``pip lock``, ``uv``): sizes and import packages are not known
    from it, and a project our index does not have is an environment requirement."""
    provenance: Mapping[str, Any] | None = field(default=None, compare=False, hash=False)
    """The bundle's recorded source (its manifest's ``provenance``), None when it has none."""


@dataclass(frozen=True)
class Lock:
    packages: tuple[LockedPackage, ...]
    index: str
    generation: str | None = None
    index_serial: int | None = None
    requirements: tuple[str, ...] = ()


def bundle_url(index_url: str, key: str) -> str:
    """Where a bundle lives: ``s3://bucket/prefix/<key>``, or a ``file://`` URL locally."""
    return bundle_urls(index_url)(key)


def bundle_urls(index_url: str) -> Callable[[str], str]:
    """:func:`bundle_url` for many keys of one index: a local index's path is resolved once
    (a ``realpath`` per bundle was 16 ms of a sync of 400)."""
    if "://" in index_url and not index_url.startswith("file://"):
        base = index_url.rstrip("/")
        return lambda key: f"{base}/{key}"
    root = Path(index_url.removeprefix("file://")).resolve()
    base = root.as_uri().removesuffix("/")  # "file://" for the root directory itself

    def url(key: str) -> str:
        # (root / key).as_uri() is "file://" and the path's bytes quoted, quoted byte by byte:
        # so it is the root's URI, "/" and the key quoted, for any key pathlib would not
        # rewrite (empty and "." parts it drops).  A Path per bundle was 6 ms of a sync of 400.
        parts = key.split("/")
        if os.name != "posix" or "" in parts or "." in parts:
            return (root / key).as_uri()
        return f"{base}/{quote_from_bytes(os.fsencode(key))}"

    return url


def index_as_url(index_url: str) -> str | None:
    """The index as PEP 751 wants it (a URL an installer can read), or None (S3: none can)."""
    if index_url.startswith(("http://", "https://", "file://")):
        return index_url
    if "://" in index_url:
        return None
    return Path(index_url).resolve().as_uri()


def lock_to_toml(lock: Lock) -> bytes:
    import tomli_w

    tool: dict[str, Any] = {"index": lock.index, "requirements": list(lock.requirements)}
    if lock.generation is not None:
        tool["generation"] = lock.generation
    if lock.index_serial is not None:
        tool["index-serial"] = lock.index_serial
    # Resolved once an index, not once a package (a realpath each).
    index_urls = {index: index_as_url(index) for index in {p.index for p in lock.packages}}
    head = {"lock-version": LOCK_VERSION, "created-by": TOOL}
    if not lock.packages:  # an empty array is written inline, among the keys
        return tomli_w.dumps({**head, "packages": [], "tool": {TOOL: tool}}).encode()
    # Byte for byte what tomli_w writes for the whole document, each package written directly
    # (tomli_w's general walk took 27 ms for 400 packages, most of a changed sync's lock).
    chunks = [
        package_entry(
            package,
            index_urls[package.index],
            _provenance_table(package.provenance).get("provenance"),
            TOOL,
        )
        for package in sorted(lock.packages, key=lambda p: p.name)
    ]
    tail = tomli_w.dumps({"tool": {TOOL: tool}})
    return (tomli_w.dumps(head) + "\n" + "\n".join(chunks) + "\n" + tail).encode()


def _package_table(package: LockedPackage, index_url: str | None) -> dict[str, Any]:
    return {
        "name": package.name,
        "version": package.version,
        **({"index": index_url} if index_url else {}),
        "wheels": [
            {
                "name": package.filename,
                "url": package.url,
                "size": package.size,
                "hashes": {"sha256": package.sha256},
            }
        ],
        "tool": {TOOL: {"top-level": package.top_level} | _provenance_table(package.provenance)},
    }


PROVENANCE_FIELDS = ("vcs", "url", "commit", "requested_ref", "subdirectory", "tree", "dirty")


def _provenance_table(provenance: Mapping[str, Any] | None) -> dict[str, Any]:
    """The lock's copy of a bundle's provenance (TOML has no null: absent fields are left out)."""
    if not provenance:
        return {}
    table = {
        key.replace("_", "-"): provenance[key]
        for key in PROVENANCE_FIELDS
        if isinstance(provenance.get(key), str | bool)
    }
    return {"provenance": table}


def lock_provenance(entry: Mapping[str, Any]) -> dict[str, Any] | None:
    """The provenance a ``[[packages]]`` entry of a lock records, as the manifest spells it."""
    tool = entry.get("tool")
    ours = tool.get(TOOL) if isinstance(tool, Mapping) else None
    table = ours.get("provenance") if isinstance(ours, Mapping) else None
    if not isinstance(table, Mapping):
        return None
    return {
        key: table[key.replace("_", "-")]
        for key in PROVENANCE_FIELDS
        if isinstance(table.get(key.replace("_", "-")), str | bool)
    }


_MAX_INTEGER = 2**63 - 1
"""Bigger sizes overflow reads and seeks; no real bundle or serial comes near."""


class _Table:
    """Typed access to one TOML table of a lock, naming the field's place in every error."""

    def __init__(self, source: str, where: str, value: object) -> None:
        if not isinstance(value, dict):
            raise _lock_problem(
                source, f"{where or 'the document'} must be a table, found {_shown(value)}"
            )
        self.source = source
        self.where = where
        self.value: dict[str, Any] = value

    def _place(self, key: str) -> str:
        return f"{self.where}.{key}" if self.where else key

    def _fail(self, key: str, expected: str, found: object) -> LockFileError:
        return _lock_problem(
            self.source, f"{self._place(key)} must be {expected}, found {_shown(found)}"
        )

    def _get(self, key: str, default: object = _MISSING) -> object:
        if key in self.value:
            return self.value[key]
        if default is _MISSING:
            raise _lock_problem(self.source, f"missing field {self._place(key)}")
        return default

    def table(self, key: str, default: object = _MISSING) -> _Table:
        return _Table(self.source, self._place(key), self._get(key, default))

    def tables(self, key: str, default: object = _MISSING) -> list[_Table]:
        value = self._get(key, default)
        if not isinstance(value, list):
            raise self._fail(key, "an array of tables", value)
        return [
            _Table(self.source, f"{self._place(key)}[{number}]", item)
            for number, item in enumerate(value)
        ]

    def text(self, key: str, default: object = _MISSING) -> str:
        value = self._get(key, default)
        if not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def optional_text(self, key: str) -> str | None:
        value = self._get(key, None)
        if value is not None and not isinstance(value, str):
            raise self._fail(key, "a string", value)
        return value

    def checked(self, key: str, expected: str, ok: Callable[[str], bool]) -> str:
        value = self.text(key)
        if not ok(value):
            raise self._fail(key, expected, value)
        return value

    def integer(self, key: str) -> int:
        value = self._get(key)
        # ``type``, not isinstance: true is an int to Python, never a size to a lock.
        if type(value) is not int or not 0 <= value <= _MAX_INTEGER:
            raise self._fail(key, "an integer from 0 to 2**63-1", value)
        return value

    def optional_integer(self, key: str) -> int | None:
        return self.integer(key) if key in self.value else None

    def strings(self, key: str) -> tuple[str, ...]:
        value = self._get(key, [])
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise self._fail(key, "an array of strings", value)
        return tuple(value)


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 60 else f"{text[:60]}..."


def _lock_problem(source: str, message: str) -> LockFileError:
    return LockFileError(source, message)


def _is_version(text: str) -> bool:
    try:
        Version(text)
    except InvalidVersion:
        return False
    return True


def _is_wheel_filename(text: str) -> bool:
    # It becomes a cache path and an index key: a plain filename, nothing path-like.
    return (
        text.endswith(".whl")
        and "/" not in text
        and "\\" not in text
        and text.isascii()
        and text.isprintable()
    )


def lock_from_toml(data: bytes, source: str = "pylock.toml") -> Lock:
    """Parse a lock written by :func:`lock_to_toml`; a malformed one is a LockFileError.

    Every field a sync relies on is type-checked here, and every name that becomes a path
    (project, wheel filename, sha256, import package) is checked to be only a name.
    """
    import tomllib

    try:
        document = tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise _lock_problem(source, str(error)) from error
    except RecursionError:
        raise _lock_problem(source, "TOML nested too deeply") from None
    top = _Table(source, "", document)
    version = top.value.get("lock-version")
    # PEP 751: a reader refuses a lock-version whose major it does not know; 1.x reads as 1.0.
    if isinstance(version, str) and version.split(".")[0] == "1":
        version = LOCK_VERSION
    if version != LOCK_VERSION:
        raise _lock_problem(source, f"lock-version must be {LOCK_VERSION!r}, found {version!r}")
    tool = top.table("tool", {}).table(TOOL, {})
    packages = tuple(_locked_package(entry) for entry in top.tables("packages", []))
    index = tool.text("index", "") or (packages[0].index if packages else "")
    return Lock(
        packages=packages,
        index=index,
        generation=tool.optional_text("generation"),
        index_serial=tool.optional_integer("index-serial"),
        requirements=tool.strings("requirements"),
    )


def _locked_package(entry: _Table) -> LockedPackage:
    # Imported here: bundle.manifest brings dioptra_toml, provenance, git_source and subprocess,
    # which a no-op sync (it imports this module through plugindir.generations) never needs.
    from dioptra_plugins.bundle.manifest import is_import_name

    wheels = entry.tables("wheels", [])
    ours = entry.table("tool", {}).table(TOOL, {}).value.get("top-level") is not None
    if not ours:
        return _foreign_package(entry, wheels)
    if len(wheels) != 1:
        raise _lock_problem(
            entry.source, f"{entry.where}.wheels must list exactly one wheel, found {len(wheels)}"
        )
    (wheel,) = wheels
    return LockedPackage(
        name=entry.checked("name", "a normalized project name", is_normalized_name),
        version=entry.checked("version", "a PEP 440 version", _is_version),
        filename=wheel.checked("name", "a wheel filename", _is_wheel_filename),
        sha256=wheel.table("hashes").checked("sha256", "a lower-case hex sha256", is_sha256),
        size=wheel.integer("size"),
        top_level=entry.table("tool")
        .table(TOOL)
        .checked("top-level", "an importable package name", is_import_name),
        index=entry.optional_text("index") or "",
        url=wheel.text("url"),
        provenance=lock_provenance(entry.value),
    )


def _foreign_package(entry: _Table, wheels: list[_Table]) -> LockedPackage:
    """A package of a lock another PEP 751 tool wrote: name, version, one pure wheel, sha256.

    ``size`` is optional there (-1 here until the index says); the import package comes from
    the index.  A package without a pure-Python wheel is named, but has no file: sync then
    treats it as an environment requirement if the index does not have it.
    """
    name = entry.checked("name", "a normalized project name", is_normalized_name)
    version = entry.checked("version", "a PEP 440 version", _is_version)
    pure = [w for w in wheels if str(w.value.get("name", "")).endswith("-none-any.whl")]
    if not pure:
        return LockedPackage(
            name, version, "", "", -1, "", entry.optional_text("index") or "", "", True
        )
    wheel = pure[0]
    size = wheel.optional_integer("size")
    return LockedPackage(
        name=name,
        version=version,
        filename=wheel.checked("name", "a wheel filename", _is_wheel_filename),
        sha256=wheel.table("hashes").checked("sha256", "a lower-case hex sha256", is_sha256),
        size=-1 if size is None else size,
        top_level="",
        index=entry.optional_text("index") or "",
        url=wheel.optional_text("url") or "",
        foreign=True,
    )


def read_lock(path: Path) -> Lock:
    try:
        data = path.read_bytes()
    except OSError as error:
        raise UsageError(f"cannot read lock file {path}: {error}") from error
    return lock_from_toml(data, str(path))


def sources_in(directories: Iterable[Path]) -> dict[str, dict[str, Any]]:
    """``{import package: provenance}`` from the lock of each plugin dir (its current
    generation's ``pylock.toml``) or generation directory; packages without one are left out.

    For listings only: an unreadable lock gives nothing, never an error.
    """
    import tomllib

    found: dict[str, dict[str, Any]] = {}
    for directory in directories:
        for lock in (directory / "pylock.toml", directory / ".dioptra-plugins/current/pylock.toml"):
            try:
                document = tomllib.loads(lock.read_text(encoding="utf-8"))
            except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
                continue
            for entry in document.get("packages", []):
                if not isinstance(entry, dict):
                    continue
                provenance = lock_provenance(entry)
                top = entry.get("tool", {}).get(TOOL, {}).get("top-level")
                if provenance and isinstance(top, str):
                    found.setdefault(top, provenance)
            break
    return found


def declared_params_in(directories: Iterable[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """``{(module, function): {"input_params": [...], "output_params": [...]}}`` of the tasks
    whose bundle's manifest declares parameters (a Dioptra 1.x ``dioptra.toml``), read from the
    store entries the plugin dirs' current locks name.  For listings only: never an error.
    """
    import json
    import tomllib

    found: dict[tuple[str, str], dict[str, Any]] = {}
    for directory in directories:
        if (directory / ".dioptra-plugins").is_dir():
            meta = directory / ".dioptra-plugins"
            lock = meta / "current" / "pylock.toml"
        else:
            meta = directory.parent.parent  # a generation: <meta>/generations/<N>
            lock = directory / "pylock.toml"
        try:
            document = tomllib.loads(lock.read_text(encoding="utf-8"))
        except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError):
            continue
        for entry in document.get("packages", []):
            try:
                digest = entry["wheels"][0]["hashes"]["sha256"]
            except (KeyError, IndexError, TypeError):
                continue
            if not isinstance(digest, str) or not is_sha256(digest):
                continue
            for path in sorted((meta / "store" / digest).glob("*.dist-info/dioptra_plugins.json")):
                try:
                    manifest = json.loads(path.read_bytes())
                    tasks = manifest.get("tasks", [])
                    for task in tasks:
                        if "input_params" in task or "output_params" in task:
                            found[(str(task["module"]), str(task["function"]))] = {
                                "input_params": task.get("input_params", []),
                                "output_params": task.get("output_params", []),
                            }
                except (OSError, ValueError, AttributeError, TypeError, KeyError):
                    continue
    return found
