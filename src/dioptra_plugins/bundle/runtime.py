"""A wheel of the running ``dioptra-plugins``, so that an index can serve its bundles' runtime.

Every bundle requires ``dioptra-plugins``; pip and uv pointed at an index's ``simple/`` pages
can install a bundle only if that index serves the runtime too (issue 25).  The wheel is built
the way every bundle is: hatchling, in a subprocess, from a generated project holding a copy of
the package the running interpreter imports (whether it came from a wheel or a source tree),
with fixed timestamps, so that the same runtime always gives the same bytes and is verified
like any bundle before it leaves this module.

Only the runtime's core dependencies are declared (its extras, Prefect and MLflow, come from
the user's usual index).  On a worker the runtime is part of the environment, never of a
plugin dir: ``sync`` treats a bundle's requirement on it as an environment requirement and
refuses to sync it (``syncing.resolve``).
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from dioptra_plugins.errors import BuildError

if TYPE_CHECKING:  # importlib.metadata costs a cold start tens of ms: only a build needs it
    from importlib import metadata

RUNTIME_PROJECT = "dioptra-plugins"
RUNTIME_PACKAGE = "dioptra_plugins"
RUNTIME_EPOCH = 315_532_800
"""1980-01-01: the zip format's first second. The runtime has no commit to take a time from,
and a constant keeps two builds of the same code byte-identical."""


def runtime_pyproject(
    version: str, distribution: metadata.Distribution | None
) -> dict[str, object]:
    """The generated project: name, version, core dependencies and console script."""
    from packaging.requirements import Requirement

    dependencies: list[str] = []
    scripts: dict[str, str] = {}
    summary = "The dioptra-plugins runtime"
    requires_python = ">=3.11"
    if distribution is not None:
        for text in distribution.requires or ():
            requirement = Requirement(text)
            if requirement.marker is None or "extra" not in str(requirement.marker):
                dependencies.append(text)
        scripts = {
            entry.name: entry.value
            for entry in distribution.entry_points
            if entry.group == "console_scripts"
        }
        fields = distribution.metadata
        summary = (fields.get_all("Summary") or [summary])[0]
        requires_python = (fields.get_all("Requires-Python") or [requires_python])[0]
    return {
        "build-system": {"requires": ["hatchling"], "build-backend": "hatchling.build"},
        "project": {
            "name": RUNTIME_PROJECT,
            "version": version,
            "description": summary,
            "requires-python": requires_python,
            "dependencies": sorted(dependencies),
            "scripts": dict(sorted(scripts.items())),
        },
        "tool": {
            "hatch": {"build": {"targets": {"wheel": {"packages": [f"src/{RUNTIME_PACKAGE}"]}}}}
        },
    }


def build_runtime(out_dir: Path) -> Path:
    """Build the running ``dioptra-plugins`` into ``out_dir``; returns the wheel's path."""
    from importlib import metadata

    import tomli_w

    from dioptra_plugins.bundle.build import build_bundle
    from dioptra_plugins.version import __version__

    package = Path(__file__).resolve().parent.parent  # the dioptra_plugins package
    try:
        distribution: metadata.Distribution | None = metadata.distribution(RUNTIME_PROJECT)
    except metadata.PackageNotFoundError:  # imported from a source tree on sys.path
        distribution = None
    with tempfile.TemporaryDirectory(prefix="dioptra-runtime-") as tmp:
        project = Path(tmp) / "project"
        try:
            # Bytecode the interpreter wrote next to the sources is not part of the runtime.
            ignore = shutil.ignore_patterns("__pycache__", "*.pyc", "*.pyo")
            shutil.copytree(package, project / "src" / RUNTIME_PACKAGE, ignore=ignore)
        except OSError as error:
            raise BuildError(f"cannot copy the runtime from {package}: {error}") from error
        pyproject = runtime_pyproject(__version__, distribution)
        (project / "pyproject.toml").write_text(tomli_w.dumps(pyproject))
        return build_bundle(project, out_dir, source_date_epoch=RUNTIME_EPOCH)
