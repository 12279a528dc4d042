"""The stages of the layout only import downwards (README, "Layout").

Every ``import`` of ``dioptra_plugins`` in ``src/`` is read from the syntax tree, deferred
imports inside functions included: a deferred import still ties the two stages together.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).parents[1] / "src" / "dioptra_plugins"

# Lower numbers stand lower: a part may import its own part and any part with a lower number.
# Parts that share a number are siblings and never import each other.
STAGES: dict[str, int] = {
    "facts": 0,
    "version": 0,
    "errors": 1,
    "fsutil": 2,
    "hashing": 2,
    "logging": 2,
    "signals": 2,
    "bundle": 3,
    "index": 4,
    "plugindir": 5,
    "signing": 6,
    "registry": 6,
    "pyplugs": 7,
    "syncing": 7,
    "catalogue": 7,
    "publishing": 8,
    "__init__": 9,
    "entrypoints": 10,
    "cli": 11,
    "__main__": 12,
}


def part_of(module: str) -> str:
    """``dioptra_plugins.index.s3`` -> ``index``; the package itself -> ``__init__``."""
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else "__init__"


def module_name(path: Path) -> str:
    relative = path.relative_to(PACKAGE.parent).with_suffix("")
    names = list(relative.parts)
    if names[-1] == "__init__":
        names.pop()
    return ".".join(names)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """(line, module) of every import of dioptra_plugins in ``path``."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, alias.name) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                raise AssertionError(f"{path}:{node.lineno}: relative import")
            base = node.module or ""
            if base == "dioptra_plugins":
                # ``from dioptra_plugins import pyplugs``: the name may be a module.
                found += [(node.lineno, f"{base}.{alias.name}") for alias in node.names]
            else:
                found.append((node.lineno, base))
    return [(line, name) for line, name in found if name.split(".")[0] == "dioptra_plugins"]


def upward_imports() -> list[str]:
    problems = []
    for path in sorted(PACKAGE.rglob("*.py")):
        importer = part_of(module_name(path))
        for line, imported in imported_modules(path):
            target = part_of(imported)
            if target not in STAGES:  # a name re-exported by the package, e.g. __version__
                target = "__init__"
            if target == importer:
                continue
            if STAGES[target] >= STAGES[importer]:
                where = f"{path.relative_to(PACKAGE)}:{line}"
                problems.append(f"{where}: {importer} imports {imported}")
    return problems


def test_every_part_has_a_stage() -> None:
    parts = {p.stem if p.is_file() else p.name for p in PACKAGE.iterdir()}
    parts = {p for p in parts if not p.startswith(("_", ".")) or p in {"__init__", "__main__"}}
    parts -= {"py"}  # py.typed
    assert sorted(parts - STAGES.keys()) == []


def test_no_part_imports_a_higher_or_sibling_part() -> None:
    assert upward_imports() == []


@pytest.mark.parametrize(
    ("source", "expected"),
    [
        ("from dioptra_plugins.cli.main import main\n", ["cli"]),
        ("def f():\n    import dioptra_plugins.syncing.engine\n", ["syncing"]),
        ("from dioptra_plugins import pyplugs\n", ["pyplugs"]),
    ],
)
def test_the_reader_sees_deferred_and_package_imports(
    tmp_path: Path, source: str, expected: list[str]
) -> None:
    path = tmp_path / "probe.py"
    path.write_text(source)
    assert [part_of(name) for _, name in imported_modules(path)] == expected
