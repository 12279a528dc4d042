"""What a repository declares: Dioptra 1.x's ``dioptra.toml`` or ``[tool.dioptra-plugins]``.

Dioptra 1.1 imports plugins from git through a ``dioptra.toml``::

    [[plugins]]
    path = "plugins/hello_world"
    description = "..."
      [[plugins.tasks.functions]]
      filename = "tasks.py"
      name = "hello"
      input_params = [ { name = "name", type = "string", required = true } ]
      output_params = [ { name = "greeting", type = "string" } ]
      [[plugins.tasks.artifacts]]
      filename = "tasks.py"
      name = "StringArtifactTask"
      output_params = [ { name = "contents", type = "string" } ]
    [[plugin_param_types]]
    name = "np.ndarray"

A plain repository lists its package folders in its ``pyproject.toml``::

    [tool.dioptra-plugins]
    packages = ["plugins/a", "plugins/b"]

Both are parsed here, strictly (a malformed file is one GitSourceError naming the field), and a
declared plugin becomes the ``dioptra`` section of its bundle's task manifest: the description,
every declared function with its parameters, the artifact tasks, the parameter types.
"""

from __future__ import annotations

import tomllib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from dioptra_plugins.bundle.vcs_url import checked_subdirectory
from dioptra_plugins.errors import GitSourceError, UsageError

DIOPTRA_TOML = "dioptra.toml"
DIOPTRA_KEY = "dioptra"


@dataclass(frozen=True)
class DeclaredPackage:
    path: str
    """Relative to the directory holding the declaring file, ``/``-separated, inside it."""
    section: Mapping[str, Any] | None = None
    """The manifest's ``dioptra`` section (None for a ``[tool.dioptra-plugins]`` package)."""


@dataclass(frozen=True)
class Declaration:
    source: str
    """The declaring file's path relative to the directory it was read from."""
    packages: tuple[DeclaredPackage, ...]


def parse_dioptra_toml(data: bytes, where: str) -> Declaration:
    """A ``dioptra.toml``'s plugins; GitSourceError naming ``where`` and the bad field."""
    document = _toml(data, where)
    plugins = document.get("plugins")
    if not isinstance(plugins, list) or not plugins:
        raise GitSourceError(f"{where}: no [[plugins]] table (nothing to build)")
    param_types = _param_types(document.get("plugin_param_types", []), where)
    packages = []
    seen: set[str] = set()
    for number, plugin in enumerate(plugins):
        at = f"{where}: plugins[{number}]"
        if not isinstance(plugin, dict):
            raise GitSourceError(f"{at} is not a table")
        path = _relative_path(plugin.get("path"), f"{at}.path")
        if path in seen:
            raise GitSourceError(f"{at}.path {path!r} is declared twice")
        seen.add(path)
        description = plugin.get("description", "")
        if not isinstance(description, str):
            raise GitSourceError(f"{at}.description is not a string")
        tasks = plugin.get("tasks", {})
        if not isinstance(tasks, dict):
            raise GitSourceError(f"{at}.tasks is not a table")
        functions = [
            _task(task, f"{at}.tasks.functions[{n}]", inputs=True)
            for n, task in enumerate(_list(tasks.get("functions", []), f"{at}.tasks.functions"))
        ]
        artifacts = [
            _task(task, f"{at}.tasks.artifacts[{n}]", inputs=False)
            for n, task in enumerate(_list(tasks.get("artifacts", []), f"{at}.tasks.artifacts"))
        ]
        section = {
            "description": description,
            "functions": functions,
            "artifacts": artifacts,
            "plugin_param_types": param_types,
        }
        packages.append(DeclaredPackage(path, section))
    return Declaration(DIOPTRA_TOML, tuple(packages))


def parse_pyproject_packages(data: bytes, where: str) -> Declaration | None:
    """``[tool.dioptra-plugins] packages`` of a pyproject.toml, or None when it has none."""
    document = _toml(data, where)
    tool = document.get("tool", {})
    table = tool.get("dioptra-plugins") if isinstance(tool, dict) else None
    if table is None:
        return None
    if not isinstance(table, dict) or "packages" not in table:
        raise GitSourceError(f"{where}: [tool.dioptra-plugins] has no packages = [...]")
    paths = _list(table["packages"], f"{where}: tool.dioptra-plugins.packages")
    if not paths:
        raise GitSourceError(f"{where}: tool.dioptra-plugins.packages is empty")
    packages = [
        DeclaredPackage(_relative_path(path, f"{where}: tool.dioptra-plugins.packages[{n}]"))
        for n, path in enumerate(paths)
    ]
    if len({p.path for p in packages}) != len(packages):
        raise GitSourceError(f"{where}: tool.dioptra-plugins.packages names a path twice")
    return Declaration("pyproject.toml", tuple(packages))


def _toml(data: bytes, where: str) -> dict[str, Any]:
    try:
        return tomllib.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, tomllib.TOMLDecodeError) as error:
        raise GitSourceError(f"{where}: not valid TOML: {error}") from error


def _list(value: object, where: str) -> list[Any]:
    if not isinstance(value, list):
        raise GitSourceError(f"{where} is not a list")
    return value


def _relative_path(value: object, where: str) -> str:
    if not isinstance(value, str) or not value.strip():
        raise GitSourceError(f"{where} is not a non-empty path")
    try:
        path = checked_subdirectory(value)
    except UsageError as error:
        raise GitSourceError(f"{where}: {error}") from error
    if not path:
        raise GitSourceError(f"{where} names the declaring directory itself, not a package")
    return path


def _task(task: object, where: str, *, inputs: bool) -> dict[str, Any]:
    if not isinstance(task, dict):
        raise GitSourceError(f"{where} is not a table")
    filename, name = task.get("filename"), task.get("name")
    if not isinstance(filename, str) or not filename.endswith(".py"):
        raise GitSourceError(f"{where}.filename is not a .py file name")
    try:
        relative = checked_subdirectory(filename)
    except UsageError as error:
        raise GitSourceError(f"{where}.filename: {error}") from error
    if not isinstance(name, str) or not name.isidentifier():
        raise GitSourceError(f"{where}.name is not a Python identifier")
    entry: dict[str, Any] = {"filename": relative, "name": name}
    if inputs:
        entry["input_params"] = _params(task.get("input_params", []), f"{where}.input_params", True)
    entry["output_params"] = _params(task.get("output_params", []), f"{where}.output_params", False)
    return entry


def _params(value: object, where: str, inputs: bool) -> list[dict[str, Any]]:
    params = []
    for number, param in enumerate(_list(value, where)):
        at = f"{where}[{number}]"
        if not isinstance(param, dict):
            raise GitSourceError(f"{at} is not a table")
        name, kind = param.get("name"), param.get("type")
        if not isinstance(name, str) or not name:
            raise GitSourceError(f"{at}.name is not a non-empty string")
        if not isinstance(kind, str) or not kind:
            raise GitSourceError(f"{at}.type is not a non-empty string")
        entry: dict[str, Any] = {"name": name, "type": kind}
        if inputs:
            # Dioptra's default: an input parameter is required unless the file says otherwise.
            required = param.get("required", True)
            if not isinstance(required, bool):
                raise GitSourceError(f"{at}.required is not true or false")
            entry["required"] = required
        params.append(entry)
    return params


def _param_types(value: object, where: str) -> list[dict[str, Any]]:
    types = []
    for number, item in enumerate(_list(value, f"{where}: plugin_param_types")):
        at = f"{where}: plugin_param_types[{number}]"
        if not isinstance(item, dict) or not isinstance(item.get("name"), str):
            raise GitSourceError(f"{at} has no name")
        description = item.get("description", "")
        if not isinstance(description, str):
            raise GitSourceError(f"{at}.description is not a string")
        types.append({"name": item["name"], "description": description})
    return types


def module_of(package: str, filename: str) -> str:
    """``hello_world`` + ``tasks.py`` -> ``hello_world.tasks`` (``__init__.py``: the package)."""
    parts = filename[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join([package, *parts])


def apply_section(manifest: dict[str, Any], section: Mapping[str, Any]) -> dict[str, Any]:
    """``manifest`` with the ``dioptra`` section and each declared function's parameters copied
    onto its registered task (matched by module and name)."""
    package = manifest["package"]
    functions = [
        {
            "module": module_of(package, f["filename"]),
            "function": f["name"],
            "input_params": f["input_params"],
            "output_params": f["output_params"],
        }
        for f in section["functions"]
    ]
    artifacts = [
        {
            "module": module_of(package, a["filename"]),
            "class": a["name"],
            "output_params": a["output_params"],
        }
        for a in section["artifacts"]
    ]
    declared = {(f["module"], f["function"]): f for f in functions}
    tasks = []
    for task in manifest["tasks"]:
        match = declared.get((task["module"], task["function"]))
        if match is not None:
            task = {
                **task,
                "input_params": match["input_params"],
                "output_params": match["output_params"],
            }
        tasks.append(task)
    return {
        **manifest,
        "tasks": tasks,
        DIOPTRA_KEY: {
            "description": section["description"],
            "functions": functions,
            "artifacts": artifacts,
            "plugin_param_types": section["plugin_param_types"],
        },
    }


def section_problems(section: object) -> list[str]:
    """Why a manifest's ``dioptra`` section is malformed (empty when it is well formed)."""
    if not isinstance(section, Mapping):
        return [f"{DIOPTRA_KEY}: not an object"]
    problems = []
    if not isinstance(section.get("description"), str):
        problems.append(f"{DIOPTRA_KEY}: 'description' is not a string")
    for key in ("functions", "artifacts", "plugin_param_types"):
        value = section.get(key)
        if not isinstance(value, list) or not all(isinstance(v, Mapping) for v in value):
            problems.append(f"{DIOPTRA_KEY}: {key!r} is not a list of objects")
    return problems


def declared_files(section: Mapping[str, Any]) -> Sequence[str]:
    """The package-relative files the declaration names (each must exist in the package)."""
    names = [f["filename"] for f in section["functions"]]
    names += [a["filename"] for a in section["artifacts"]]
    return sorted(set(names))
