"""Reading an ``MLproject`` file (DESIGN §7): a name and entry points with typed parameters.

The format is MLflow's.  A parameter is declared in one of three forms::

    parameters:
      data_file: path                        # short form: just the type
      alpha: {type: float, default: 0.1}     # inline form
      output:                                # long form: a nested mapping
        type: path
        default: metrics.json

Types are ``string``, ``float``, ``path`` and ``uri``; a parameter without a type is a string.
The environment keys (``conda_env``, ``python_env``, ``docker_env``) are accepted so that
MLflow projects load unchanged, but this runner does not build environments: the command runs
in the current one, and the project records which keys it ignored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from dioptra_plugins.errors import MLprojectError

logger = logging.getLogger(__name__)

MLPROJECT_FILE = "MLproject"
PARAMETER_TYPES = ("string", "float", "path", "uri")
ENVIRONMENT_KEYS = ("conda_env", "python_env", "docker_env")
_TOP_LEVEL_KEYS = {"name", "entry_points", *ENVIRONMENT_KEYS}
_PARAMETER_KEYS = {"type", "default"}
_ENTRY_POINT_KEYS = {"parameters", "command"}


@dataclass(frozen=True)
class Parameter:
    """One declared parameter; ``default`` is None when the caller must supply a value."""

    name: str
    type: str = "string"
    default: str | None = None


@dataclass(frozen=True)
class EntryPoint:
    """A named command template and the parameters it declares, in file order."""

    name: str
    command: str
    parameters: Mapping[str, Parameter] = field(default_factory=dict)


@dataclass(frozen=True)
class MLproject:
    """A parsed project: its directory, name, entry points and the environment keys it ignores."""

    directory: Path
    file: Path
    name: str | None
    entry_points: Mapping[str, EntryPoint]
    unused_environment: tuple[str, ...] = ()

    def entry_point(self, name: str) -> EntryPoint:
        """The entry point called ``name``, or an error listing the ones that exist."""
        try:
            return self.entry_points[name]
        except KeyError:
            available = ", ".join(sorted(self.entry_points)) or "none"
            raise MLprojectError(
                f"{self.file}: no entry point {name!r} (available: {available})"
            ) from None


def load_mlproject(project_dir: Path | str) -> MLproject:
    """Parse ``<project_dir>/MLproject``; every problem raises :class:`MLprojectError`."""
    directory = Path(project_dir).absolute()
    file = directory / MLPROJECT_FILE
    if not directory.is_dir():
        raise MLprojectError(f"{directory}: project directory does not exist")
    try:
        text = file.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise MLprojectError(f"{file}: no MLproject file in the project directory") from None
    except (OSError, UnicodeDecodeError) as error:
        raise MLprojectError(f"{file}: cannot read: {error}") from None
    return parse_mlproject(text, file)


def parse_mlproject(text: str, file: Path) -> MLproject:
    """Parse MLproject text; ``file`` is where it came from, for messages and the project dir."""
    document = _load_yaml(text, file)
    if not isinstance(document, dict):
        raise MLprojectError(
            f"{file}: expected a mapping at the top level, found {_kind(document)}"
        )
    unknown = sorted(str(key) for key in document if key not in _TOP_LEVEL_KEYS)
    if unknown:
        # MLflow ignores unknown keys; warning (not failing) keeps its projects loadable.
        logger.warning("%s: ignoring unknown keys: %s", file, ", ".join(unknown))
    name = document.get("name")
    if name is not None and not isinstance(name, str | int | float):
        raise MLprojectError(f"{file}: 'name' must be a string, found {_kind(name)}")
    unused = tuple(key for key in ENVIRONMENT_KEYS if key in document)
    for key in unused:
        logger.warning(
            "%s: %s is not used: the command runs in the current Python environment", file, key
        )
    raw_entry_points = document.get("entry_points")
    if raw_entry_points is None:
        raise MLprojectError(f"{file}: no 'entry_points' mapping")
    if not isinstance(raw_entry_points, dict):
        raise MLprojectError(
            f"{file}: 'entry_points' must be a mapping, found {_kind(raw_entry_points)}"
        )
    entry_points = {
        str(entry_name): _parse_entry_point(file, str(entry_name), raw)
        for entry_name, raw in raw_entry_points.items()
    }
    return MLproject(
        directory=file.parent,
        file=file,
        name=None if name is None else str(name),
        entry_points=entry_points,
        unused_environment=unused,
    )


def _load_yaml(text: str, file: Path) -> Any:
    # Besides YAMLError, PyYAML's composer recurses once per nesting level, and its constructors
    # let Python's own errors out for a scalar that looks like a type but is not a valid one:
    # ``2001-13-45``, ``!!int x``, an int of 5000 digits, ``!!timestamp foo``.
    try:
        return yaml.safe_load(text)
    except yaml.MarkedYAMLError as error:
        mark = error.problem_mark or error.context_mark
        where = f"{file}:{mark.line + 1}:{mark.column + 1}" if mark else str(file)
        problem = error.problem or error.context or "malformed YAML"
        raise MLprojectError(f"{where}: invalid YAML: {problem}") from None
    except yaml.YAMLError as error:
        raise MLprojectError(f"{file}: invalid YAML: {error}") from None
    except RecursionError:
        raise MLprojectError(f"{file}: invalid YAML: nested too deeply") from None
    except (ValueError, OverflowError) as error:
        raise MLprojectError(f"{file}: invalid YAML value: {error}") from None
    except (TypeError, AttributeError):
        raise MLprojectError(f"{file}: invalid YAML: a value does not match its tag") from None


def _parse_entry_point(file: Path, name: str, raw: Any) -> EntryPoint:
    where = f"{file}: entry point {name!r}"
    if not isinstance(raw, dict):
        raise MLprojectError(f"{where}: expected a mapping with 'command', found {_kind(raw)}")
    unknown = sorted(str(key) for key in raw if key not in _ENTRY_POINT_KEYS)
    if unknown:
        logger.warning("%s: ignoring unknown keys: %s", where, ", ".join(unknown))
    command = raw.get("command")
    if command is None:
        raise MLprojectError(f"{where}: missing 'command'")
    if not isinstance(command, str) or not command.strip():
        raise MLprojectError(f"{where}: 'command' must be a non-empty string")
    raw_parameters = raw.get("parameters") or {}
    if not isinstance(raw_parameters, dict):
        raise MLprojectError(
            f"{where}: 'parameters' must be a mapping, found {_kind(raw_parameters)}"
        )
    parameters = {
        str(key): _parse_parameter(where, str(key), value) for key, value in raw_parameters.items()
    }
    return EntryPoint(name=name, command=command, parameters=parameters)


def _parse_parameter(where: str, name: str, raw: Any) -> Parameter:
    where = f"{where}: parameter {name!r}"
    if not name.isidentifier():
        # The name becomes a {placeholder} and a --flag; anything else cannot be rendered.
        raise MLprojectError(f"{where}: a parameter name must be a Python identifier")
    if raw is None:
        return Parameter(name=name)
    if isinstance(raw, str):
        return Parameter(name=name, type=_parameter_type(where, raw))
    if not isinstance(raw, dict):
        raise MLprojectError(f"{where}: expected a type name or a mapping, found {_kind(raw)}")
    unknown = sorted(str(key) for key in raw if key not in _PARAMETER_KEYS)
    if unknown:
        raise MLprojectError(f"{where}: unknown keys {', '.join(unknown)} (allowed: type, default)")
    type_name = raw.get("type")
    parameter_type = "string" if type_name is None else _parameter_type(where, type_name)
    default = raw.get("default")
    if isinstance(default, bool):
        # YAML 1.1 reads yes/no/on/off as booleans: say so rather than guess a spelling.
        raise MLprojectError(f"{where}: default is a YAML boolean; quote it to make it a string")
    if not (default is None or isinstance(default, str | int | float)):
        raise MLprojectError(
            f"{where}: default must be a string or a number, found {_kind(default)}"
        )
    return Parameter(
        name=name,
        type=parameter_type,
        default=None if default is None else str(default),
    )


def _parameter_type(where: str, raw: Any) -> str:
    if not isinstance(raw, str) or raw not in PARAMETER_TYPES:
        raise MLprojectError(
            f"{where}: unknown type {raw!r} (allowed: {', '.join(PARAMETER_TYPES)})"
        )
    return raw


def _kind(value: Any) -> str:
    """A short description of a YAML value for messages ("a list", "null")."""
    if value is None:
        return "nothing"
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    return names.get(type(value), f"a {type(value).__name__}")
