"""Small plugin packages built into real bundles, and helpers to publish and inspect them."""

from __future__ import annotations

import os
import sys
from collections.abc import Iterable, Sequence
from pathlib import Path

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish
from snapshots import installed as installed  # re-exported for the tests that import it here
from snapshots import tree_snapshot


def make_package(parent: Path, top: str, version: str, modules: int = 3) -> Path:
    """A bare plugin package folder ``parent/top`` whose code says which version it is."""
    package = parent / top
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'VERSION = "{version}"\n')
    for number in range(modules):
        (package / f"mod{number}.py").write_text(
            "from dioptra_plugins.pyplugs import register\n\n\n"
            "@register\n"
            f"def task{number}(x: int) -> str:\n"
            f'    """Task {number} of {top} {version}."""\n'
            f'    return "{top}-{version}-{number}-" + str(x)\n'
        )
    return package


def build(
    workdir: Path, top: str, version: str, requires: Sequence[str] = (), modules: int = 3
) -> Path:
    source = make_package(workdir / f"src-{top}-{version}", top, version, modules)
    return build_bundle(source, workdir / "wheels", version=version, requires=requires)


def publish_wheels(index_url: str, wheels: Iterable[Path]) -> None:
    publish(open_storage(index_url), list(wheels))


def visible(plugin_dir: Path) -> dict[str, str]:
    """What an importer sees through the entry links: top-level package -> its VERSION."""
    seen = {}
    for entry in os.scandir(plugin_dir):
        if entry.name.startswith("."):
            continue
        init = Path(entry.path) / "__init__.py"
        if init.is_file():
            seen[entry.name] = init.read_text().split('"')[1]
    return seen


CLI = str(Path(sys.executable).parent / "dioptra-plugins")
"""The installed console script (run as a real subprocess)."""


def yank(index_url: str, name: str, version: str) -> None:
    """Mark every file of ``name`` ``version`` yanked, through the index's own root swap."""
    from dataclasses import replace

    from dioptra_plugins.index.documents import ProjectDocument, RootDocument
    from dioptra_plugins.index.reading import DocumentCache
    from dioptra_plugins.index.swap import change_root

    def change(root: RootDocument, documents: DocumentCache) -> dict[str, ProjectDocument]:
        document = documents.get(root, name)
        assert document is not None
        files = [
            replace(f, yanked=True, yanked_reason="broken") if f.version == version else f
            for f in document.files
        ]
        return {name: document.with_files(files)}

    change_root(open_storage(index_url), change)


def snapshot(plugin_dir: Path) -> dict[str, str]:
    """Everything a reader of the plugin dir can see (the download cache and lock excepted)."""
    return tree_snapshot(plugin_dir, skip=(".dioptra-plugins/cache", ".dioptra-plugins/lock"))
