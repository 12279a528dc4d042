"""The task manifest: which functions a plugin package registers, read from its syntax tree.

Plugin code is never imported to build or index it, so the manifest is computed from the AST:
every module-level function decorated with ``register`` in any of its spellings (``@register``,
``@register(sort_value=2)``, ``@pyplugs.register``, ``@dioptra_plugins.pyplugs.register(...)``).
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Mapping
from typing import Any

from dioptra_plugins.errors import ManifestError

MANIFEST_FORMAT = 1
MANIFEST_FILENAME = "dioptra_plugins.json"
_REGISTER = "register"


def module_name_for(path: str) -> str | None:
    """The dotted module name of a package-relative ``.py`` path, or None for other files."""
    if not path.endswith(".py"):
        return None
    parts = path[: -len(".py")].split("/")
    if parts[-1] == "__init__":
        parts = parts[:-1]
    if not parts or not all(part.isidentifier() for part in parts):
        return None
    return ".".join(parts)


def _decorator_target(decorator: ast.expr) -> tuple[ast.expr, ast.Call | None]:
    if isinstance(decorator, ast.Call):
        return decorator.func, decorator
    return decorator, None


def _is_register(target: ast.expr) -> bool:
    if isinstance(target, ast.Name):
        return target.id == _REGISTER
    return isinstance(target, ast.Attribute) and target.attr == _REGISTER


def _sort_value(call: ast.Call | None) -> float | int:
    if call is None:
        return 0
    for keyword in call.keywords:
        if keyword.arg == "sort_value":
            try:
                value = ast.literal_eval(keyword.value)
            except ValueError:
                return 0
            if isinstance(value, int | float) and not isinstance(value, bool):
                return value
    return 0


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    text = f"({ast.unparse(node.args)})"
    if node.returns is not None:
        text += f" -> {ast.unparse(node.returns)}"
    return text


def _first_doc_line(node: ast.FunctionDef | ast.AsyncFunctionDef) -> str:
    doc = ast.get_docstring(node) or ""
    for line in doc.splitlines():
        if line.strip():
            return line.strip()
    return ""


def tasks_in_source(source: bytes, module: str, filename: str) -> list[dict[str, Any]]:
    """Registered functions of one module's source; ManifestError names file and line."""
    try:
        tree = ast.parse(source, filename=filename)
    except SyntaxError as error:
        raise ManifestError(filename, error.lineno, f"syntax error: {error.msg}") from error
    except (ValueError, UnicodeDecodeError) as error:
        raise ManifestError(filename, None, f"cannot be read as Python: {error}") from error
    except (RecursionError, MemoryError):
        # The parser gives up on absurdly nested expressions (``1+1+...``, ``----1``).
        raise ManifestError(filename, None, "nested too deeply to read its tasks") from None
    tasks: list[dict[str, Any]] = []
    for node in tree.body:
        if not isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            continue
        for decorator in node.decorator_list:
            target, call = _decorator_target(decorator)
            if _is_register(target):
                tasks.append(
                    {
                        "module": module,
                        "function": node.name,
                        "signature": _signature(node),
                        "doc": _first_doc_line(node),
                        "line": node.lineno,
                        "sort_value": _sort_value(call),
                    }
                )
                break
    return tasks


def build_manifest(package: str, sources: Iterable[tuple[str, bytes]]) -> dict[str, Any]:
    """The manifest of ``package`` from ``(package-relative path, source bytes)`` pairs.

    Paths are ``/``-separated and start with the package directory.  Tasks are sorted by
    module and line so the manifest (and so the wheel) is byte-for-byte reproducible.
    """
    tasks: list[dict[str, Any]] = []
    for path, source in sources:
        module = module_name_for(path)
        if module is None or not (module == package or module.startswith(package + ".")):
            continue
        tasks.extend(tasks_in_source(source, module, path))
    tasks.sort(key=lambda task: (task["module"], task["line"], task["function"]))
    return {"format": MANIFEST_FORMAT, "package": package, "tasks": tasks}


def manifest_problems(manifest: Mapping[str, Any], package: str) -> list[str]:
    """Why a manifest read from a wheel cannot be trusted (empty when it is well formed)."""
    problems: list[str] = []
    if manifest.get("format") != MANIFEST_FORMAT:
        problems.append(f"{MANIFEST_FILENAME}: unknown format {manifest.get('format')!r}")
    if manifest.get("package") != package:
        problems.append(
            f"{MANIFEST_FILENAME}: names package {manifest.get('package')!r}, "
            f"the wheel holds {package!r}"
        )
    tasks = manifest.get("tasks")
    if not isinstance(tasks, list):
        problems.append(f"{MANIFEST_FILENAME}: 'tasks' is not a list")
        return problems
    fields = {"module": str, "function": str, "signature": str, "doc": str, "line": int}
    for number, task in enumerate(tasks):
        if not isinstance(task, dict):
            problems.append(f"{MANIFEST_FILENAME}: task {number} is not an object")
            continue
        for field, kind in fields.items():
            if not isinstance(task.get(field), kind):
                problems.append(f"{MANIFEST_FILENAME}: task {number} has no valid {field!r}")
    return problems
