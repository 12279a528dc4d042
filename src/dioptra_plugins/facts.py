"""Facts as plain data: the records an error carries (a resolver's cause, a module's load
failure) and how any fact becomes JSON.

Beside :mod:`dioptra_plugins.errors`, on its floor, and like it importing nothing of the
library: the exception family keeps its classes, this module what they hold.
"""

from __future__ import annotations

import dataclasses
import math
import os
from collections.abc import Iterable, Mapping
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


def kept(value: object) -> object:
    """A fact as an error keeps it: a mapping as a dict (its values kept too), any other
    iterable but text as a list.  A generator is read once, here, and a tuple compares equal
    to the list a caller passed, in ``details`` and in a pickled copy alike."""
    if isinstance(value, Mapping):
        return {key: kept(item) for key, item in value.items()}
    if isinstance(value, set | frozenset):  # in an order that does not change between runs
        return sorted(value, key=str)
    if isinstance(value, Iterable) and not isinstance(value, str | bytes):
        return list(value)
    return value


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


@dataclass(frozen=True)
class LoadFailure:
    """Where and why a module failed to (re)load: not an exception, the facts of one.

    Carried by :class:`~dioptra_plugins.errors.PluginImportError` (a first import that failed)
    and by a reload event (an edit that failed, the last good version kept), so both report
    the same three facts.
    """

    file: str | None
    line: int | None
    message: str

    def __str__(self) -> str:
        where = f"{self.file}:{self.line}" if self.file and self.line else (self.file or "?")
        return f"{where}: {self.message}"

    def to_dict(self) -> dict[str, Any]:
        return {"file": self.file, "line": self.line, "message": self.message}
