"""The one exception family of dioptra-plugins (DESIGN §8).

Every error carries the facts a user needs (which file, which hash, expected and found) as
attributes, its message is built from them in its class, and ``details()`` hands them to the
CLI's ``--json`` error document.  Only the CLI turns errors into messages and exit codes:
``exit_code`` 1 means a refused or failed operation, 2 a usage error.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import KW_ONLY, InitVar, dataclass, field
from typing import Any

from dioptra_plugins.facts import LoadFailure as LoadFailure  # the facts errors carry
from dioptra_plugins.facts import ResolutionCause as ResolutionCause
from dioptra_plugins.facts import json_safe as json_safe
from dioptra_plugins.facts import kept


class DioptraPluginsError(Exception):
    """Root of every error this library raises on purpose.  A subclass with facts is a
    ``@dataclass(eq=False, repr=False)`` (errors compare and hash by identity, print as exceptions
    do) of them, ``message: InitVar[str]`` first if the raiser writes the words, else its
    ``__str__`` builds them from the facts."""

    exit_code = 1

    def __post_init__(self, message: str | None = None) -> None:
        for name, value in list(vars(self).items()):
            setattr(self, name, kept(value))
        # A dataclass's __init__ does not call Exception's: ``args`` (what repr and a traceback
        # show) become the message given, or the one ``__str__`` builds from the facts.
        self.args = (str(self) if message is None else message,)

    def details(self) -> dict[str, Any]:
        """The error's facts, JSON-safe: every public instance attribute (none: words only)."""
        return {
            name: json_safe(value) for name, value in vars(self).items() if not name.startswith("_")
        }

    def __reduce__(self) -> tuple[Any, ...]:
        # Rebuilt without __init__ (its keyword-only facts are not ``args``), so that an error
        # crossing a process boundary (a Prefect task's state, a pool) keeps its facts instead
        # of failing to unpickle.
        state = dict(vars(self))
        if isinstance(self, ImportError):  # slots, not in vars()
            state |= {"name": self.name, "path": self.path}
        return (_rebuild, (type(self), self.args, state))


def _rebuild(
    cls: type[DioptraPluginsError], args: tuple[Any, ...], state: dict[str, Any]
) -> DioptraPluginsError:
    error = cls.__new__(cls, *args)
    error.args = args
    for name, value in state.items():
        setattr(error, name, value)
    return error


@dataclass(eq=False, repr=False)
class UsageError(DioptraPluginsError):
    """The caller asked for something malformed (bad URL, bad requirement, bad option):
    ``parameters`` names the function parameters to blame, each written ```name``` in the
    message, which the command line replaces with its option (``--dry-run``), as click does."""

    message: InitVar[str]
    _: KW_ONLY
    parameters: Sequence[str] = ()
    exit_code = 2


@dataclass(eq=False, repr=False, kw_only=True)
class ConfigurationError(UsageError):
    """The environment or a configuration file holds a malformed setting (an ``AWS_*`` or
    ``DIOPTRA_PLUGINS_*`` variable, an AWS config or credentials file): ``variable`` (None:
    cannot be told), its ``value`` (None for a secret: never repeated), the ``file``, if any."""

    variable: str | None = None
    value: str | None = None
    file: str | None = None


# --- bundles -------------------------------------------------------------------------------------
class BuildError(DioptraPluginsError):
    """A plugin package could not be built into a bundle."""


@dataclass(eq=False, repr=False)
class ManifestError(BuildError):
    """A plugin source file could not be read as Python (syntax error, bad encoding)."""

    path: str
    line: int | None
    message: str

    def __str__(self) -> str:
        return f"{f'{self.path}:{self.line}' if self.line else self.path}: {self.message}"


class GitSourceError(BuildError):
    """A git source could not be fetched or used: no such ref, a dirty tree, a bad subdirectory,
    a submodule or LFS pointer in a package, a malformed ``dioptra.toml``."""


@dataclass(eq=False, repr=False)
class RebuildMismatchError(DioptraPluginsError):
    """A bundle is not what its recorded commit builds; ``differences`` names every file."""

    wheel: str
    differences: list[str]

    def __str__(self) -> str:
        lines = "\n".join(f"  - {d}" for d in self.differences)
        return f"{self.wheel} does not rebuild byte for byte from its source:\n{lines}"


@dataclass(eq=False, repr=False)
class BundleError(DioptraPluginsError):
    """A wheel failed verification; ``problems`` lists every problem found, not just the first."""

    wheel: str
    problems: list[str]

    def __post_init__(self) -> None:
        # Two checks may find the same fault (a bad entry seen by RECORD and by the manifest
        # reader): say it once, in the order found.
        self.problems = list(dict.fromkeys(self.problems))
        super().__post_init__()

    def __str__(self) -> str:
        lines = "\n".join(f"  - {p}" for p in self.problems)
        return f"{self.wheel} is not a valid bundle:\n{lines}"


# --- index and storage ---------------------------------------------------------------------------
class StorageError(DioptraPluginsError):
    """The index storage (local directory or S3) failed or refused a request."""


class StorageOSError(StorageError):
    """The system refused to ``operation`` ("write", "create", "read", "list"...) ``path`` of a
    local index (read-only, permission, full disk, a file where a folder belongs, a name too
    long...), saying ``errno`` and ``reason`` (``errno.EROFS``, "Read-only file system")."""

    def __init__(
        self, operation: str, path: str, error: OSError, *, reason: str | None = None
    ) -> None:
        self.operation = operation
        self.path = path
        self.errno = error.errno
        self.reason = reason or error.strerror or str(error)
        super().__init__(f"cannot {operation} {path}: {self.reason}")


@dataclass(eq=False, repr=False, kw_only=True)
class ObjectNotFoundError(StorageError):
    """A key the caller needed does not exist in the index storage: ``key`` in the index at
    ``url``; ``no_index``: the key is the index's root, so that to a reader there is no index
    at ``url`` at all (a typo in the URL, most likely), not an empty one."""

    key: str
    url: str
    no_index: bool = False

    def __str__(self) -> str:
        if not self.no_index:
            return f"{self.key} does not exist in {self.url}"
        hint = "(check the URL; `index init` or `publish` creates one)"
        return f"no index at {self.url}: {self.key} does not exist {hint}"


class ObjectExistsError(StorageError):
    """A create-only write found the key already present."""


class ConflictError(StorageError):
    """A compare-and-swap replace lost the race: the object changed since it was read."""


class IndexFormatError(DioptraPluginsError):
    """An index document is corrupt, truncated, of an unknown format or fails its hash."""


@dataclass(eq=False, repr=False)
class UnknownProjectError(DioptraPluginsError):
    """The index has no project of that name (a failed lookup, exit 1, as a yank of it is)."""

    name: str
    url: str
    _: KW_ONLY
    signed: bool = False

    def __str__(self) -> str:
        return f"{self.name} is not in the{' signed' if self.signed else ''} index {self.url}"


class PublishError(DioptraPluginsError):
    """A publish, yank or unyank was refused."""


@dataclass(eq=False, repr=False)
class RepairRefusedError(DioptraPluginsError):
    """``index repair`` cannot know what it needs to rebuild the root safely: ``unknown`` lists
    what (the order of yanks, the highest serial, which recorded root was committed),
    ``candidates`` the sha256 of each recorded root (none without history) to choose from,
    ``needed`` the options that say it (``--serial N --without-history``, ``--choose SHA``)."""

    message: InitVar[str]
    _: KW_ONLY
    unknown: list[str]
    candidates: list[str]
    needed: str


# --- sync and the plugin dir ---------------------------------------------------------------------
@dataclass(eq=False, repr=False)
class ResolutionError(DioptraPluginsError):
    """The requirements cannot be satisfied by the index (conflict, missing, yanked): the
    ``causes`` that conflicted (who asked for what), each project named to the ``available``
    versions (none of which satisfied them) and the ``yanked`` ones, requirements on projects
    ``missing`` from the index, the ``rounds`` after which the resolver gave up.  The
    resolver's own exception stays the ``__cause__``."""

    message: InitVar[str]
    _: KW_ONLY
    causes: list[ResolutionCause] = field(default_factory=list)
    available: dict[str, list[str]] = field(default_factory=dict)
    yanked: dict[str, list[str]] = field(default_factory=dict)
    missing: list[str] = field(default_factory=list)
    rounds: int | None = None


class EnvironmentRequirementError(DioptraPluginsError):
    """Bundles need distributions the running environment does not have."""


@dataclass(eq=False, repr=False)
class IntegrityError(DioptraPluginsError):
    """Bytes did not match their recorded size or sha256: ``subject`` names what was checked (a
    key, a file, an archive member); ``expected`` and ``found`` are the facts compared
    ("sha256 <hex> (<n> bytes)"), when there were two."""

    message: InitVar[str]
    _: KW_ONLY
    subject: str | None = None
    expected: str | None = None
    found: str | None = None


class SyncError(DioptraPluginsError):
    """A sync failed; the plugin dir is unchanged."""


@dataclass(eq=False, repr=False)
class ShadowingError(SyncError):
    """A sync refused bundles whose top-level import names the worker's environment already
    provides (on ``sys.path`` first, they would replace those modules): ``providers`` maps each
    to what provides it now (the standard library, a distribution and its path,
    ``dioptra-plugins`` itself), ``bundles`` to the bundle files that would ship it."""

    providers: dict[str, str]
    bundles: dict[str, list[str]]

    def __str__(self) -> str:
        lines = "\n".join(
            f"  - {name!r} (in {', '.join(self.bundles.get(name, []))}): {provider}"
            for name, provider in sorted(self.providers.items())
        )
        names = " ".join(f"--allow-shadowing {name}" for name in sorted(self.providers))
        return (
            "refusing to install bundles whose import names the environment already provides "
            "(a plugin dir comes first on sys.path, so they would replace those modules in "
            f"every process that uses it):\n{lines}\n"
            f"rename the package, or allow it explicitly: {names}"
        )


@dataclass(eq=False, repr=False)
class LockFileError(SyncError):
    """The lock file ``source`` is not one this tool can reproduce (not a usage error: the file
    is damaged or hostile): ``problem`` says what (not TOML, or a field missing, of the wrong
    type, or naming what cannot be a project, hash, wheel or package), the field's place first."""

    source: str
    problem: str

    def __str__(self) -> str:
        return f"{self.source} is not a dioptra-plugins lock: {self.problem}"


# --- the signed index ----------------------------------------------------------------------------
class TrustError(SyncError):
    """A signed index failed verification (or is not signed while trust is configured)."""


class SignedMismatchError(IntegrityError):
    """Bytes an index served (``found``) are not the ones its signed metadata pins (``expected``):
    possible tampering (a bundle replaced after it was signed, by a bucket writer or a cache).
    A download cut short is not this but a plain IntegrityError or a retried broken stream."""


class SigningError(PublishError):
    """Signing the index failed or was refused (missing key, keys not of this index...)."""


@dataclass(eq=False, repr=False)
class UnsignedRootError(SigningError):
    """The index root (``found_serial``; None: missing or unreadable) is not the one its signed
    metadata pins, and no key holder signed it.  Raised before anything is written (publish,
    yank, ``index renew``), or by ``index refresh`` after it renewed at most the timestamp of
    the last signed state (``renewed``)."""

    url: str
    _: KW_ONLY
    signed_serial: int
    found_serial: int | None
    # signing.differences.RootDifference items: not imported, even for type checking, so that
    # the one exception family depends on nothing of the library.
    differences: list[Any]
    outcome: str
    renewed: bool = False

    def __str__(self) -> str:
        serial = self.found_serial
        found = "missing or unreadable" if serial is None else f"serial {serial}"
        shown = "; ".join(str(d) for d in self.differences[:8]) or "same projects, other bytes"
        if len(self.differences) > 8:
            shown += f"; and {len(self.differences) - 8} more"
        return (
            f"{self.url}/index.json ({found}) is not the root its signed metadata pins (serial "
            f"{self.signed_serial}) and no key holder signed it: {shown}; {self.outcome}"
        )


class PluginDirError(DioptraPluginsError):
    """A plugin dir is missing, damaged, or cannot be switched."""


@dataclass(eq=False, repr=False, kw_only=True)
class LockTimeoutError(PluginDirError):
    """Another process held the plugin dir lock for longer than the timeout: ``path`` is the
    plugin dir, ``timeout`` the seconds waited, ``holder`` the pid recorded in the lock (None:
    it cannot be told)."""

    path: str
    timeout: float
    holder: int | None

    def __str__(self) -> str:
        who = f"process {self.holder}" if self.holder else "another process"
        return (
            f"plugin dir {self.path} is locked by {who}; gave up after waiting {self.timeout:g} s"
        )


# --- registry ------------------------------------------------------------------------------------
class RegistryError(DioptraPluginsError):
    """Base of the registry's lookup and import errors."""


class UnknownPackageError(RegistryError):
    """The plugin package itself cannot be found by the import system."""


class UnknownPluginError(RegistryError):
    """The package exists but has no such plugin module."""


@dataclass(eq=False, repr=False, kw_only=True)
class UnknownPluginFunctionError(RegistryError):
    """The plugin module (``package`` "" for a top-level ``plugin``) registers no function
    ``func`` (None: the default) with ``label``; ``known`` are those it registers,
    ``suggestions`` those close to ``func``."""

    package: str
    plugin: str
    func: str | None
    label: str | None
    known: list[str]
    suggestions: list[str] = field(init=False)

    def __post_init__(self) -> None:
        import difflib  # only when this error is raised: the CLI's start-up imports errors

        self.known = sorted(self.known)
        # The name asked for is never its own suggestion: found under another label, it is
        # not what the caller needs, and "did you mean 'x'" for a lookup of 'x' misleads.
        others = [name for name in self.known if name != self.func]
        func = self.func
        self.suggestions = difflib.get_close_matches(func, others, n=3, cutoff=0.6) if func else []
        super().__post_init__()

    def __str__(self) -> str:
        module = f"{self.package}.{self.plugin}" if self.package else self.plugin
        what = "any function" if self.func is None else f"any function named {self.func!r}"
        labelled = "" if self.label is None else f" with label {self.label!r}"
        hint = " or ".join(repr(name) for name in self.suggestions)
        return (
            f"Could not find {what}{labelled} inside {module!r}. "
            "Use pyplugs.register to register plug-in functions"
            + (f" (did you mean {hint}?)" if hint else "")
        )


class PluginImportError(RegistryError, ImportError):
    """A plugin module exists but failed to import (syntax error, missing helper, exception).
    Also an :class:`ImportError` (``name`` the module, ``path`` its file; not a dataclass, as
    ImportError's ``__init__`` takes them), so pyplugs code catching ``ImportError`` works."""

    def __init__(self, module: str, failure: LoadFailure) -> None:
        self.module = module
        self.failure = failure
        where = str(failure) if failure.file else f"{module}: {failure.message}"
        super().__init__(
            f"plugin module {module!r} failed to import: {where}", name=module, path=failure.file
        )

    @property
    def file(self) -> str | None:
        return self.failure.file

    @property
    def line(self) -> int | None:
        return self.failure.line

    @property
    def message(self) -> str:
        return self.failure.message


class PrefectDependencyError(RegistryError):
    """Running plugins as workflow tasks needs Prefect, which is missing or hidden (Dioptra's)."""


# --- entry points --------------------------------------------------------------------------------
class MLprojectError(DioptraPluginsError):
    """An MLproject file is missing, malformed or asks for something unsupported."""


class ParameterError(MLprojectError):
    """Entry point parameters are missing or of the wrong type."""

    exit_code = 2


class TrackingError(DioptraPluginsError):
    """MLflow tracking is configured but the run could not be recorded in it."""
