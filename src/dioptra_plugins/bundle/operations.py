"""Building bundles for Python callers: ``dioptra_plugins.build``.

The command line's ``build`` calls :func:`build` for each SOURCE.  Which builder runs is
decided here, once: a git URL is cloned and built at its ref, a folder of a git work tree is
built from its commit (with provenance), any other folder is built as it is on disk.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from pathlib import Path

from dioptra_plugins.errors import UsageError


def build(
    source: str | os.PathLike[str],
    *,
    out_dir: str | os.PathLike[str],
    version: str | None = None,
    requires: Iterable[str] = (),
    name: str | None = None,
    namespace: str | None = None,
    allow_dirty: bool = False,
) -> list[Path]:
    """Build ``source`` into bundles (reproducible wheels) in ``out_dir``; return their paths.

    ``source`` is a hatchling project directory, a bare package folder (then ``version`` is
    required, ``requires`` lists its dependencies, ``name`` overrides its project name and
    ``namespace`` makes it a portion of that namespace package), a folder of a git work tree
    (its HEAD commit is built and recorded; uncommitted changes are refused unless
    ``allow_dirty``), or a ``git+...@REF#subdirectory=DIR`` URL.  A git source whose folder
    declares several packages (``dioptra.toml``) yields several wheels.  Plugin code is never
    imported.  Each wheel is verified before it is returned.
    """
    from dioptra_plugins.bundle.build import build_bundle
    from dioptra_plugins.bundle.git_build import (
        GitBuildOptions,
        build_from_git,
        build_from_work_tree,
    )
    from dioptra_plugins.bundle.vcs_url import is_vcs_url
    from dioptra_plugins.bundle.work_tree import in_work_tree

    if isinstance(requires, str):
        # A lone string would be built as one requirement per character.
        raise UsageError(
            "`requires` is a list of requirements, not one string", parameters=("requires",)
        )
    requirements = tuple(requires)
    text = os.fspath(source)
    if not text:
        raise UsageError("`source` is empty", parameters=("source",))
    out = Path(os.fspath(out_dir))
    options = GitBuildOptions(version, requirements, name, namespace)
    if is_vcs_url(text):
        return [built.wheel for built in build_from_git(text, out, options)]
    folder = Path(text)
    if folder.is_dir() and in_work_tree(folder):
        return [
            built.wheel
            for built in build_from_work_tree(folder, out, options, allow_dirty=allow_dirty)
        ]
    return [
        build_bundle(
            folder,
            out,
            version=version,
            requires=requirements,
            name=name,
            namespace=namespace,
        )
    ]
