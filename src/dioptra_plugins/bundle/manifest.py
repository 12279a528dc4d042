"""The task manifest: which functions a plugin package registers, read from its syntax tree.

Plugin code is never imported to build or index it, so the manifest is computed from the AST.
It follows the module's imports, not names: a module-level function or class is a task when
one of its decorators resolves, through the module's ``import`` statements (and plain
``name = other.name`` aliases), to ``register`` of a registry module: ``dioptra_plugins.pyplugs``
(or ``dioptra_plugins.registry.marks``), Dioptra's ``dioptra.pyplugs``, or upstream ``pyplugs``.  So
``from dioptra_plugins.pyplugs import register as reg`` + ``@reg``, ``import
dioptra_plugins.pyplugs as pp`` + ``@pp.register()`` and Dioptra's own ``from dioptra import
pyplugs`` + ``@pyplugs.register`` are found, and an unrelated ``@other.register`` is not.
"""

from __future__ import annotations

import ast
from collections.abc import Iterable, Iterator, Mapping
from typing import Any

from dioptra_plugins.bundle.dioptra_toml import DIOPTRA_KEY, section_problems
from dioptra_plugins.bundle.provenance import PROVENANCE_KEY, provenance_problems
from dioptra_plugins.errors import ManifestError

MANIFEST_FORMAT = 1
MANIFEST_FILENAME = "dioptra_plugins.json"
REGISTRY_MODULES = frozenset(
    {"dioptra_plugins.pyplugs", "dioptra_plugins.registry.marks", "dioptra.pyplugs", "pyplugs"}
)
"""Modules whose ``register`` marks task plugins (ours, Dioptra's fork, upstream pyplugs)."""
_REGISTER_NAMES = frozenset(f"{module}.register" for module in REGISTRY_MODULES)
MAX_PACKAGE_DEPTH = 16
"""Most dotted parts an import package (or namespace portion) name may have."""


def is_import_name(text: str) -> bool:
    """Whether ``text`` is a dotted import name (``pkg``, ``namespace.portion``).

    Every part is an identifier, so the name never holds ``/``, ``..`` or an empty part: it is
    safe to turn into a relative path (``namespace/portion``) inside a store entry or generation.
    """
    parts = text.split(".")
    return len(parts) <= MAX_PACKAGE_DEPTH and all(part.isidentifier() for part in parts)


def package_path(name: str) -> str:
    """The ``/``-separated directory of import package ``name`` inside a wheel or store entry."""
    return name.replace(".", "/")


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


class _Names:
    """What the module-level names of one module refer to, as far as its imports tell."""

    def __init__(self) -> None:
        self.bound: dict[str, str] = {}

    def qualified(self, node: ast.expr) -> str | None:
        """The dotted name ``node`` refers to (``pp.register`` -> ``dioptra_plugins.pyplugs.
        register``), or None when it is not a chain of attributes on an imported name."""
        if isinstance(node, ast.Name):
            return self.bound.get(node.id)
        if isinstance(node, ast.Attribute):
            base = self.qualified(node.value)
            return None if base is None else f"{base}.{node.attr}"
        return None

    def is_register(self, node: ast.expr) -> bool:
        return self.qualified(node) in _REGISTER_NAMES

    def learn(self, node: ast.stmt, conditional: bool) -> None:
        """Update the bindings for one module-level statement, in execution order.

        A statement that may not run (in an ``if`` or ``try``) only adds bindings: ``try: from
        dioptra import pyplugs`` / ``except ImportError: pyplugs = None`` keeps ``pyplugs``.
        """
        if conditional:
            saved = dict(self.bound)
            self._learn(node)
            self.bound = {**saved, **self.bound}
            return
        self._learn(node)

    def _learn(self, node: ast.stmt) -> None:
        if isinstance(node, ast.Import):
            for alias in node.names:
                if alias.asname:
                    self.bound[alias.asname] = alias.name
                else:
                    # ``import a.b.c`` binds ``a``; ``a.b.c.register`` then resolves by attributes.
                    first = alias.name.split(".", 1)[0]
                    self.bound[first] = first
        elif isinstance(node, ast.ImportFrom):
            if node.level or node.module is None:
                for alias in node.names:  # relative imports: never a registry module
                    self.bound.pop(alias.asname or alias.name, None)
                return
            for alias in node.names:
                if alias.name == "*":
                    if node.module in REGISTRY_MODULES:
                        self.bound["register"] = f"{node.module}.register"
                    continue
                self.bound[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Assign | ast.AnnAssign):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            value = self.qualified(node.value) if node.value is not None else None
            for target in targets:
                for name in _assigned_names(target):
                    if value is not None and isinstance(target, ast.Name):
                        self.bound[name] = value
                    else:
                        self.bound.pop(name, None)
        elif isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            self.bound.pop(node.name, None)


def _assigned_names(target: ast.expr) -> Iterator[str]:
    if isinstance(target, ast.Name):
        yield target.id
    elif isinstance(target, ast.Tuple | ast.List):
        for element in target.elts:
            yield from _assigned_names(element)
    elif isinstance(target, ast.Starred):
        yield from _assigned_names(target.value)


def _module_statements(
    body: list[ast.stmt], conditional: bool = False
) -> Iterator[tuple[ast.stmt, bool]]:
    """Module-level statements in execution order, with whether they may not run: into
    ``if``/``try``/``with`` blocks, not into functions or classes (not run at import)."""
    for node in body:
        yield node, conditional
        if isinstance(node, ast.If):
            yield from _module_statements(node.body, True)
            yield from _module_statements(node.orelse, True)
        elif isinstance(node, ast.Try | ast.TryStar):
            yield from _module_statements(node.body, True)
            for handler in node.handlers:
                yield from _module_statements(handler.body, True)
            yield from _module_statements(node.orelse, True)
            yield from _module_statements(node.finalbody, conditional)
        elif isinstance(node, ast.With | ast.AsyncWith):
            yield from _module_statements(node.body, conditional)


def _literal(call: ast.Call | None, name: str) -> object:
    if call is None:
        return None
    for keyword in call.keywords:
        if keyword.arg == name:
            try:
                return ast.literal_eval(keyword.value)
            except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
                return None
    return None


def _sort_value(call: ast.Call | None) -> float | int:
    value = _literal(call, "sort_value")
    if isinstance(value, int | float) and not isinstance(value, bool):
        return value
    return 0


def _signature(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
    if isinstance(node, ast.ClassDef):
        # A registered class is called to make an instance: its constructor's parameters.
        init = next(
            (
                item
                for item in node.body
                if isinstance(item, ast.FunctionDef) and item.name == "__init__"
            ),
            None,
        )
        if init is None:
            return "()"
        arguments = ast.arguments(
            posonlyargs=init.args.posonlyargs[1:],
            args=init.args.args[1:] if not init.args.posonlyargs else init.args.args,
            vararg=init.args.vararg,
            kwonlyargs=init.args.kwonlyargs,
            kw_defaults=init.args.kw_defaults,
            kwarg=init.args.kwarg,
            defaults=init.args.defaults,
        )
        return f"({ast.unparse(arguments)})"
    text = f"({ast.unparse(node.args)})"
    if node.returns is not None:
        text += f" -> {ast.unparse(node.returns)}"
    return text


def _first_doc_line(node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef) -> str:
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
    names = _Names()
    for node, conditional in _module_statements(tree.body):
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef):
            # Decorators run before the name is bound: read them with the bindings before.
            for decorator in node.decorator_list:
                target, call = _decorator_target(decorator)
                if names.is_register(target):
                    tasks.append(_task(node, module, call))
                    break
        names.learn(node, conditional)
    return tasks


def _task(
    node: ast.FunctionDef | ast.AsyncFunctionDef | ast.ClassDef, module: str, call: ast.Call | None
) -> dict[str, Any]:
    task: dict[str, Any] = {
        "module": module,
        "function": node.name,
        "signature": _signature(node),
        "doc": _first_doc_line(node),
        "line": node.lineno,
        "sort_value": _sort_value(call),
    }
    if isinstance(node, ast.ClassDef):
        task["kind"] = "class"
    label = _literal(call, "label")
    if isinstance(label, str):
        task["label"] = label
    return task


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
    if not all(map(_plain_task, tasks)):
        problems.extend(_task_problems(tasks))
    # The sections a build from git adds.
    if PROVENANCE_KEY in manifest:
        found = provenance_problems(manifest[PROVENANCE_KEY])
        problems.extend(f"{MANIFEST_FILENAME}: {p}" for p in found)
    if DIOPTRA_KEY in manifest:
        found = section_problems(manifest[DIOPTRA_KEY])
        problems.extend(f"{MANIFEST_FILENAME}: {p}" for p in found)
    return problems


_OPTIONAL_TASK_FIELDS = frozenset({"kind", "label", "input_params", "output_params"})


def _plain_task(task: object) -> bool:
    """Whether ``task`` is certainly well formed: the common shape, checked in one expression.

    A sync parses every project document it needs, each holding the tasks of every file, so
    this runs for every task of every bundle of the set (10,000 at 400 bundles).  A task it
    does not accept is not wrong: :func:`_task_problems` decides, field by field.
    """
    return (
        type(task) is dict
        and type(task.get("module")) is str
        and type(task.get("function")) is str
        and type(task.get("signature")) is str
        and type(task.get("doc")) is str
        and type(task.get("line")) is int
        and _OPTIONAL_TASK_FIELDS.isdisjoint(task)
    )


def _task_problems(tasks: list[Any]) -> list[str]:
    problems: list[str] = []
    fields = {"module": str, "function": str, "signature": str, "doc": str, "line": int}
    for number, task in enumerate(tasks):
        if not isinstance(task, dict):
            problems.append(f"{MANIFEST_FILENAME}: task {number} is not an object")
            continue
        for field, kind in fields.items():
            if not isinstance(task.get(field), kind):
                problems.append(f"{MANIFEST_FILENAME}: task {number} has no valid {field!r}")
        for field in ("kind", "label"):
            if field in task and not isinstance(task[field], str):
                problems.append(f"{MANIFEST_FILENAME}: task {number} has an invalid {field!r}")
        for field in ("input_params", "output_params"):
            if field in task and not _is_object_list(task[field]):
                problems.append(f"{MANIFEST_FILENAME}: task {number} has an invalid {field!r}")
    return problems


def _is_object_list(value: object) -> bool:
    return isinstance(value, list) and all(isinstance(item, dict) for item in value)
