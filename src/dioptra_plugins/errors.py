"""The one exception family of dioptra-plugins (DESIGN §8).

Every error carries the facts a user needs (which file, which hash, expected and found) as
attributes, and its message is built from them in one place: its class.  :meth:`details` hands
those facts over as a JSON-safe mapping (the CLI's ``--json`` error document carries it as
``details``).  Only the CLI turns errors into messages and exit codes: ``exit_code`` 1 means a
refused or failed operation, 2 a usage error.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any


def json_safe(value: object) -> Any:
    """``value`` as something :func:`json.dumps` writes without help (and without NaN).

    Facts are plain data already, mostly; what is not (a path, a version, a dataclass of
    facts, a cause exception) becomes its dict or its text rather than failing the report.
    """
    if value is None or isinstance(value, bool | int | str):
        return value
    if isinstance(value, float):
        return value if math.isfinite(value) else str(value)
    if isinstance(value, Mapping):
        return {str(key): json_safe(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):
        return sorted((json_safe(item) for item in value), key=str)
    if isinstance(value, list | tuple):
        return [json_safe(item) for item in value]
    if isinstance(value, type):  # a class is named, never called (its to_dict is unbound)
        return f"{value.__module__}.{value.__qualname__}"
    to_dict = getattr(value, "to_dict", None)
    if callable(to_dict):
        return json_safe(to_dict())
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return json_safe(dataclasses.asdict(value))
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, BaseException):
        return {"kind": type(value).__name__, "error": str(value)}
    return str(value)


class DioptraPluginsError(Exception):
    """Root of every error this library raises on purpose."""

    exit_code = 1

    def details(self) -> dict[str, Any]:
        """The error's facts, JSON-safe: every public instance attribute (a subclass whose
        facts live elsewhere overrides this).  Empty for an error that carries only words."""
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


class UsageError(DioptraPluginsError):
    """The caller asked for something malformed (bad URL, bad requirement, bad option).

    ``parameters`` names the function parameters to blame, as a Python caller knows them; the
    message writes each as ```name``` (backticks), which the command line replaces with the
    option that sets it (``--dry-run``), as click's ``BadParameter`` names its option.
    """

    exit_code = 2

    def __init__(self, message: str, *, parameters: Sequence[str] = ()) -> None:
        self.parameters = list(parameters)
        super().__init__(message)


class ConfigurationError(UsageError):
    """The environment or a configuration file holds a malformed setting (an ``AWS_*`` or
    ``DIOPTRA_PLUGINS_*`` variable, an AWS config or credentials file).

    ``variable`` names the variable or setting to blame (None when it cannot be told),
    ``value`` its offending value (None when it is a secret: a secret is never repeated),
    ``file`` the configuration file involved, if any.
    """

    def __init__(
        self,
        message: str,
        *,
        variable: str | None = None,
        value: str | None = None,
        file: str | None = None,
    ) -> None:
        self.variable = variable
        self.value = value
        self.file = file
        super().__init__(message)


# --- bundles -------------------------------------------------------------------------------------


class BuildError(DioptraPluginsError):
    """A plugin package could not be built into a bundle."""


class ManifestError(BuildError):
    """A plugin source file could not be read as Python (syntax error, bad encoding)."""

    def __init__(self, path: str, line: int | None, message: str) -> None:
        self.path = path
        self.line = line
        self.message = message
        where = f"{path}:{line}" if line else path
        super().__init__(f"{where}: {message}")


class GitSourceError(BuildError):
    """A git source could not be fetched or used: no such ref, a dirty tree, a bad subdirectory,
    a submodule or LFS pointer in a package, a malformed ``dioptra.toml``."""


class RebuildMismatchError(DioptraPluginsError):
    """A bundle is not what its recorded commit builds; ``differences`` names every file."""

    def __init__(self, wheel: str, differences: Iterable[str]) -> None:
        self.wheel = wheel
        self.differences = list(differences)
        lines = "\n".join(f"  - {d}" for d in self.differences)
        super().__init__(f"{wheel} does not rebuild byte for byte from its source:\n{lines}")


class BundleError(DioptraPluginsError):
    """A wheel failed verification; ``problems`` lists every problem found, not just the first."""

    def __init__(self, wheel: str, problems: Iterable[str]) -> None:
        self.wheel = wheel
        # Two checks may find the same fault (a bad entry seen by RECORD and by the manifest
        # reader): say it once, in the order found.
        self.problems = list(dict.fromkeys(problems))
        lines = "\n".join(f"  - {p}" for p in self.problems)
        super().__init__(f"{wheel} is not a valid bundle:\n{lines}")


# --- index and storage ---------------------------------------------------------------------------


class StorageError(DioptraPluginsError):
    """The index storage (local directory or S3) failed or refused a request."""


class StorageOSError(StorageError):
    """The operating system refused an operation on a local index (read-only file system,
    permission, full disk, a file where a folder belongs, a name too long, ...).

    ``path`` is the file or folder concerned, ``operation`` what was being done ("write",
    "create", "read", "list", ...), ``errno`` and ``reason`` the system's answer
    (``errno.EROFS``, "Read-only file system").
    """

    def __init__(
        self, operation: str, path: str, error: OSError, *, reason: str | None = None
    ) -> None:
        self.operation = operation
        self.path = path
        self.errno = error.errno
        self.reason = reason or error.strerror or str(error)
        super().__init__(f"cannot {operation} {path}: {self.reason}")


class ObjectNotFoundError(StorageError):
    """A key the caller needed does not exist in the index storage.

    ``key`` is the storage key, ``url`` the index; ``no_index`` says the key is the index's
    root, so that to a reader there is no index at ``url`` at all (a typo in the URL, most
    likely), not an empty one.
    """

    def __init__(self, *, key: str, url: str, no_index: bool = False) -> None:
        self.key = key
        self.url = url
        self.no_index = no_index
        super().__init__(
            f"no index at {url}: {key} does not exist (check the URL; `index init` or "
            "`publish` creates one)"
            if no_index
            else f"{key} does not exist in {url}"
        )


class ObjectExistsError(StorageError):
    """A create-only write found the key already present."""


class ConflictError(StorageError):
    """A compare-and-swap replace lost the race: the object changed since it was read."""


class IndexFormatError(DioptraPluginsError):
    """An index document is corrupt, truncated, of an unknown format or fails its hash."""


class UnknownProjectError(DioptraPluginsError):
    """The index has no project of that name (a failed lookup, exit 1, as a yank of it is)."""

    def __init__(self, name: str, url: str, *, signed: bool = False) -> None:
        self.name = name
        self.url = url
        self.signed = signed
        super().__init__(f"{name} is not in the{' signed' if signed else ''} index {url}")


class PublishError(DioptraPluginsError):
    """A publish, yank or unyank was refused."""


class RepairRefusedError(DioptraPluginsError):
    """``index repair`` cannot know what it would need to rebuild the root safely.

    ``unknown`` lists what it cannot know (the order of yanks, the highest serial accepted,
    which of several recorded roots was committed); ``candidates`` the sha256 of each recorded
    root it could choose from (empty when it has no history); ``needed`` the options that state
    the missing facts (``--serial N --without-history``, ``--choose SHA``).
    """

    def __init__(
        self, message: str, *, unknown: Iterable[str], candidates: Iterable[str], needed: str
    ) -> None:
        self.unknown = list(unknown)
        self.candidates = list(candidates)
        self.needed = needed
        super().__init__(message)


# --- sync and the plugin dir ---------------------------------------------------------------------


@dataclass(frozen=True)
class ResolutionCause:
    """One requirement the resolver could not satisfy (resolvelib's ``RequirementInformation``
    as facts): ``project`` with ``specifier`` ("" for any version), asked for by ``parent``
    ("name version" of a bundle; None: the caller's own requirement)."""

    project: str
    specifier: str
    parent: str | None

    def to_dict(self) -> dict[str, Any]:
        return {"project": self.project, "specifier": self.specifier, "parent": self.parent}


class ResolutionError(DioptraPluginsError):
    """The requirements cannot be satisfied by the index (conflict, missing, yanked).

    When the resolver gave up, ``causes`` lists the requirements that conflicted (who asked for
    what); ``available`` maps each project named to the usable versions the index offers
    (none of which satisfied them) and ``yanked`` to its yanked versions; ``missing`` lists
    requirements on projects the index does not have; ``rounds`` is set when the resolver gave
    up after that many rounds.  The resolver's own exception stays the ``__cause__``.
    """

    def __init__(
        self,
        message: str,
        *,
        causes: Iterable[ResolutionCause] = (),
        available: Mapping[str, Sequence[str]] | None = None,
        yanked: Mapping[str, Sequence[str]] | None = None,
        missing: Iterable[str] = (),
        rounds: int | None = None,
    ) -> None:
        self.causes = list(causes)
        self.available = {name: list(versions) for name, versions in (available or {}).items()}
        self.yanked = {name: list(versions) for name, versions in (yanked or {}).items()}
        self.missing = list(missing)
        self.rounds = rounds
        super().__init__(message)


class EnvironmentRequirementError(DioptraPluginsError):
    """Bundles need distributions the running environment does not have."""


class IntegrityError(DioptraPluginsError):
    """Bytes did not match their recorded size or sha256.

    ``subject`` names what was checked (a key, a file, an archive member); ``expected`` and
    ``found`` are the facts compared ("sha256 <hex> (<n> bytes)"), when there were two.
    """

    def __init__(
        self,
        message: str,
        *,
        subject: str | None = None,
        expected: str | None = None,
        found: str | None = None,
    ) -> None:
        self.subject = subject
        self.expected = expected
        self.found = found
        super().__init__(message)


class SyncError(DioptraPluginsError):
    """A sync failed; the plugin dir is unchanged."""


class ShadowingError(SyncError):
    """A sync refused bundles whose top-level import names the worker's environment already
    provides: on ``sys.path`` before the environment, they would replace those modules.

    ``providers`` maps each refused top-level name to what provides it now (the standard
    library, a distribution and its path, ``dioptra-plugins`` itself); ``bundles`` maps it to
    the bundle files that would ship it.
    """

    def __init__(self, providers: dict[str, str], bundles: dict[str, list[str]]) -> None:
        self.providers = dict(providers)
        self.bundles = {name: list(files) for name, files in bundles.items()}
        lines = "\n".join(
            f"  - {name!r} (in {', '.join(self.bundles.get(name, []))}): {provider}"
            for name, provider in sorted(self.providers.items())
        )
        names = " ".join(f"--allow-shadowing {name}" for name in sorted(self.providers))
        super().__init__(
            "refusing to install bundles whose import names the environment already provides "
            "(a plugin dir comes first on sys.path, so they would replace those modules in "
            f"every process that uses it):\n{lines}\n"
            f"rename the package, or allow it explicitly: {names}"
        )


class LockFileError(SyncError):
    """A lock file is not one this tool can reproduce: not TOML, or a field missing, of the
    wrong type, or naming something that cannot be a project, hash, wheel or package.

    Not a usage error: the command was right, the file it names is damaged or hostile.
    ``source`` names the lock file, ``problem`` what is wrong in it (the field's place first).
    """

    def __init__(self, source: str, problem: str) -> None:
        self.source = source
        self.problem = problem
        super().__init__(f"{source} is not a dioptra-plugins lock: {problem}")


# --- the signed index ----------------------------------------------------------------------------


class TrustError(SyncError):
    """A signed index failed verification (or is not signed while trust is configured)."""


class SignedMismatchError(IntegrityError):
    """Bytes an index served are not the ones its signed metadata pins: possible tampering.

    A bundle replaced after it was signed (by someone who can write the bucket, or a cache in
    between) ends the sync like this; a download cut short by the network does not (it stays a
    plain IntegrityError or a retried broken stream).  ``expected`` is what the signed targets
    pin, ``found`` what was served.
    """


class SigningError(PublishError):
    """Signing the index failed or was refused (missing key, keys not of this index...)."""


class UnsignedRootError(SigningError):
    """The index root is not the one its signed metadata pins, and no key holder signed it.

    Raised before anything is written (publish, yank, ``index renew``), or by ``index refresh``
    after it renewed at most the timestamp of the last signed state (``renewed``).
    """

    def __init__(
        self,
        url: str,
        *,
        signed_serial: int,
        found_serial: int | None,
        # signing.differences.RootDifference items: not imported, even for type checking, so
        # that the one exception family depends on nothing of the library.
        differences: Sequence[Any],
        outcome: str,
        renewed: bool = False,
    ) -> None:
        self.url = url
        self.signed_serial = signed_serial
        self.found_serial = found_serial
        """The serial of ``index.json`` as found (None: missing or unreadable)."""
        self.differences = list(differences)
        self.outcome = outcome
        self.renewed = renewed
        found = "missing or unreadable" if found_serial is None else f"serial {found_serial}"
        shown = "; ".join(str(d) for d in self.differences[:8]) or "same projects, other bytes"
        if len(self.differences) > 8:
            shown += f"; and {len(self.differences) - 8} more"
        super().__init__(
            f"{url}/index.json ({found}) is not the root its signed metadata pins (serial "
            f"{signed_serial}) and no key holder signed it: {shown}; {outcome}"
        )


class PluginDirError(DioptraPluginsError):
    """A plugin dir is missing, damaged, or cannot be switched."""


class LockTimeoutError(PluginDirError):
    """Another process held the plugin dir lock for longer than the timeout.

    ``path`` is the plugin dir, ``timeout`` the seconds waited, ``holder`` the pid recorded in
    the lock (None: it cannot be told).
    """

    def __init__(self, *, path: str, timeout: float, holder: int | None) -> None:
        self.path = path
        self.timeout = timeout
        self.holder = holder
        who = f"process {holder}" if holder else "another process"
        super().__init__(
            f"plugin dir {path} is locked by {who}; gave up after waiting {timeout:g} s"
        )


# --- registry ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class LoadFailure:
    """Where and why a module failed to (re)load: not an exception, the facts of one.

    Carried by :class:`PluginImportError` (a first import that failed) and by a reload event
    (an edit that failed, the last good version kept), so both report the same three facts.
    """

    file: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "?")
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}


class RegistryError(DioptraPluginsError):
    """Base of the registry's lookup and import errors."""


class UnknownPackageError(RegistryError):
    """The plugin package itself cannot be found by the import system."""


class UnknownPluginError(RegistryError):
    """The package exists but has no such plugin module."""


class UnknownPluginFunctionError(RegistryError):
    """The plugin module exists but registers no such function.

    ``package`` and ``plugin`` name the module (package "" for a top-level plugin), ``func``
    the function asked for (None: the module's default), ``label`` the label asked for,
    ``known`` the functions the module registers, ``suggestions`` those close to ``func``.
    """

    def __init__(
        self,
        *,
        package: str,
        plugin: str,
        func: str | None,
        label: str | None,
        known: Iterable[str],
    ) -> None:
        self.package = package
        self.plugin = plugin
        self.func = func
        self.label = label
        self.known = sorted(known)
        # The name asked for is never its own suggestion: found under another label, it is
        # not what the caller needs, and "did you mean 'x'" for a lookup of 'x' misleads.
        others = [name for name in self.known if name != func]
        import difflib  # only when this error is raised: the CLI's start-up imports errors

        self.suggestions = difflib.get_close_matches(func, others, n=3, cutoff=0.6) if func else []
        module = f"{package}.{plugin}" if package else plugin
        what = "any function" if func is None else f"any function named {func!r}"
        labelled = "" if label is None else f" with label {label!r}"
        hint = (
            " (did you mean " + " or ".join(repr(name) for name in self.suggestions) + "?)"
            if self.suggestions
            else ""
        )
        super().__init__(
            f"Could not find {what}{labelled} inside {module!r}. "
            "Use pyplugs.register to register plug-in functions" + hint
        )


class PluginImportError(RegistryError, ImportError):
    """A plugin module exists but failed to import (syntax error, missing helper, exception).

    Also an :class:`ImportError` (``name`` is the module, ``path`` its file), so code written
    for pyplugs that catches ``ImportError`` keeps working.
    """

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
