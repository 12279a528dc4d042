"""Checking and converting the parameters of one entry point run.

Values arrive as strings (``-P name=value``) and leave as strings, ready to be quoted into the
command.  Per type:

* ``string``: passed as given;
* ``float``: must parse as a finite float; passed as given (``1e-3`` stays ``1e-3``);
* ``path``: made absolute; an ``s3://`` path is downloaded to a local temporary directory
  first (through boto3 and the standard AWS configuration) and its local path passed on;
* ``uri``: a value with a scheme (``s3://``, ``https://``) is passed through, a relative path
  is made absolute.

A relative value given by the caller is relative to the caller's working directory (it was
typed there); a relative *default* is relative to the project directory (it was written
there).  Every problem (missing values, bad floats, unknown names) is reported in one
:class:`ParameterError` so that the caller fixes the command line once.
"""

from __future__ import annotations

import logging
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from dioptra_plugins.entrypoints.mlproject import EntryPoint, Parameter
from dioptra_plugins.errors import ParameterError

logger = logging.getLogger(__name__)

_URI_SCHEME = re.compile(r"^(?P<scheme>[A-Za-z][A-Za-z0-9+.-]+):")
# An undeclared parameter becomes "--name value": keep names to what a flag can be.
_EXTRA_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_.-]*$")


@dataclass(frozen=True)
class ResolvedParameters:
    """Converted values: the declared ones in declaration order, then the undeclared ones."""

    declared: Mapping[str, str]
    extra: Mapping[str, str]

    def as_dict(self) -> dict[str, str]:
        return {**self.declared, **self.extra}


def resolve_parameters(
    entry_point: EntryPoint,
    given: Mapping[str, str],
    *,
    project_dir: Path,
    download_dir: Path,
    cwd: Path | None = None,
) -> ResolvedParameters:
    """Check ``given`` against ``entry_point`` and convert every value (see module doc).

    ``download_dir`` receives ``s3://`` path parameters; the caller owns its lifetime.
    """
    caller_dir = (cwd or Path.cwd()).absolute()
    problems: list[str] = []
    missing = [
        name
        for name, parameter in entry_point.parameters.items()
        if name not in given and parameter.default is None
    ]
    if missing:
        problems.append(f"missing values for {', '.join(missing)} (no default; pass -P name=value)")
    declared: dict[str, str] = {}
    for name, parameter in entry_point.parameters.items():
        if name in missing:
            continue
        if name in given:
            value, base = given[name], caller_dir
        else:
            value, base = str(parameter.default), project_dir
        try:
            declared[name] = _convert(parameter, value, base, download_dir)
        except ParameterError as error:
            problems.append(str(error))
    extra: dict[str, str] = {}
    for name, value in given.items():
        if name in entry_point.parameters:
            continue
        if not _EXTRA_NAME.match(name):
            problems.append(f"parameter name {name!r} cannot be passed as a --flag")
            continue
        extra[name] = value
    if problems:
        lines = "\n".join(f"  - {problem}" for problem in problems)
        raise ParameterError(f"entry point {entry_point.name!r}: bad parameters:\n{lines}")
    return ResolvedParameters(declared=declared, extra=extra)


def parse_assignments(assignments: list[str] | tuple[str, ...]) -> dict[str, str]:
    """``["a=1", "b=x=y"]`` -> ``{"a": "1", "b": "x=y"}``; the value may contain ``=``."""
    values: dict[str, str] = {}
    for assignment in assignments:
        name, sep, value = assignment.partition("=")
        name = name.strip()
        if not sep or not name:
            raise ParameterError(f"-P {assignment!r}: expected name=value")
        if name in values:
            raise ParameterError(f"-P {name}: given more than once")
        values[name] = value
    return values


def _convert(parameter: Parameter, value: str, base: Path, download_dir: Path) -> str:
    if parameter.type == "float":
        return _check_float(parameter.name, value)
    if parameter.type == "path":
        return _path_value(parameter.name, value, base, download_dir)
    if parameter.type == "uri":
        return _uri_value(value, base)
    return value


def _check_float(name: str, value: str) -> str:
    try:
        number = float(value)
    except ValueError:
        raise ParameterError(f"{name}: expected a float, got {value!r}") from None
    if not math.isfinite(number):
        raise ParameterError(f"{name}: expected a finite float, got {value!r}")
    return value.strip()


def _path_value(name: str, value: str, base: Path, download_dir: Path) -> str:
    if not value:
        raise ParameterError(f"{name}: expected a path, got an empty value")
    match = _URI_SCHEME.match(value)
    if match is None:
        return _absolute(value, base)
    scheme = match["scheme"].lower()
    if scheme == "file":
        return _absolute(value.removeprefix(match[0]).removeprefix("//"), base)
    if scheme == "s3":
        from dioptra_plugins.entrypoints.s3_params import download_s3_path

        target = download_dir / f"param_{name}"
        return str(download_s3_path(name, value, target))
    raise ParameterError(
        f"{name}: cannot fetch {value!r} for a path parameter (local paths, file:// and s3:// only)"
    )


def _uri_value(value: str, base: Path) -> str:
    if _URI_SCHEME.match(value):
        return value
    return _absolute(value, base)


def _absolute(value: str, base: Path) -> str:
    # abspath, not resolve(): the value may not exist yet (an output path), and symlinks in it
    # are the user's to keep.
    return os.path.abspath(base / Path(value).expanduser())
