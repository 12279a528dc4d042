"""Namespace packages (PEP 420) as bundles: whole namespaces, and portions of a shared one."""

from __future__ import annotations

import json
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.errors import UsageError
from dioptra_plugins.publishing.publish import file_entry
from wheelfactory import WheelSpec

TASK = (
    "from dioptra import pyplugs\n\n\n@pyplugs.register\n"
    'def {name}(x: int) -> int:\n    """Task {name}."""\n    return x\n'
)


def write(root: Path, files: dict[str, str]) -> Path:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text)
    return root


def namespace_folder(tmp_path: Path) -> Path:
    """``ns_builtins`` as Dioptra ships its builtins: no ``__init__.py`` at the top, one
    regular subpackage and one namespace subpackage."""
    return write(
        tmp_path / "task-plugins" / "ns_builtins",
        {
            "random/__init__.py": "",
            "random/rng.py": TASK.format(name="init_rng"),
            "metrics/distance.py": TASK.format(name="l2"),  # a namespace subfolder
            "README.txt": "not code\n",
        },
    )


def manifest_of(wheel: Path) -> dict[str, object]:
    bundle = verify_wheel(wheel)
    return bundle.manifest


def test_bare_namespace_folder_builds(tmp_path: Path) -> None:
    wheel = build_bundle(namespace_folder(tmp_path), tmp_path / "dist", version="1.0")
    bundle = verify_wheel(wheel)
    assert (bundle.name, bundle.top_level) == ("ns-builtins", "ns_builtins")
    with zipfile.ZipFile(wheel) as archive:
        names = set(archive.namelist())
    assert "ns_builtins/__init__.py" not in names
    assert {"ns_builtins/random/rng.py", "ns_builtins/metrics/distance.py"} <= names
    tasks = {(t["module"], t["function"]) for t in bundle.manifest["tasks"]}
    assert tasks == {("ns_builtins.random.rng", "init_rng"), ("ns_builtins.metrics.distance", "l2")}


def test_portion_of_a_namespace_is_named_after_the_portion(tmp_path: Path) -> None:
    folder = write(
        tmp_path / "dioptra_custom" / "fgm_plugins",
        {"__init__.py": "", "attacks.py": TASK.format(name="fgm")},
    )
    wheel = build_bundle(folder, tmp_path / "dist", version="2.0", namespace="dioptra_custom")
    bundle = verify_wheel(wheel)
    assert wheel.name == "dioptra_custom_fgm_plugins-2.0-py3-none-any.whl"
    assert (bundle.name, bundle.top_level) == (
        "dioptra-custom-fgm-plugins",
        "dioptra_custom.fgm_plugins",
    )
    assert bundle.manifest["package"] == "dioptra_custom.fgm_plugins"
    assert [t["module"] for t in bundle.manifest["tasks"]] == ["dioptra_custom.fgm_plugins.attacks"]
    with zipfile.ZipFile(wheel) as archive:
        assert not any(n.startswith("dioptra_custom/__init__") for n in archive.namelist())


def test_name_overrides_the_portion_name(tmp_path: Path) -> None:
    folder = write(tmp_path / "squeeze", {"squeeze.py": TASK.format(name="squeeze")})
    wheel = build_bundle(
        folder, tmp_path / "dist", version="1.0", namespace="dioptra_custom", name="Lab-Squeeze"
    )
    bundle = verify_wheel(wheel)
    assert (bundle.name, bundle.top_level) == ("lab-squeeze", "dioptra_custom.squeeze")


def test_hatchling_project_of_a_namespace_portion(tmp_path: Path) -> None:
    project = write(
        tmp_path / "project",
        {
            "pyproject.toml": (
                '[build-system]\nrequires = ["hatchling"]\nbuild-backend = "hatchling.build"\n'
                '[project]\nname = "fgm-portion"\nversion = "1.0"\nrequires-python = ">=3.11"\n'
                '[tool.hatch.build.targets.wheel]\npackages = ["src/dioptra_custom"]\n'
            ),
            "src/dioptra_custom/fgm/__init__.py": "",
            "src/dioptra_custom/fgm/attacks.py": TASK.format(name="fgm"),
        },
    )
    bundle = verify_wheel(build_bundle(project, tmp_path / "dist"))
    assert (bundle.name, bundle.top_level) == ("fgm-portion", "dioptra_custom.fgm")
    assert [t["function"] for t in bundle.manifest["tasks"]] == ["fgm"]


@pytest.mark.parametrize("namespace", ["../x", "dioptra_custom/../x", "a..b", "", "a-b", "/abs"])
def test_hostile_namespace_is_refused(tmp_path: Path, namespace: str) -> None:
    folder = write(tmp_path / "pkg", {"__init__.py": "", "m.py": TASK.format(name="t")})
    with pytest.raises(UsageError, match="`namespace`"):
        build_bundle(folder, tmp_path / "dist", version="1.0", namespace=namespace)
    assert not (tmp_path / "dist").exists()


def test_hostile_project_name_is_refused(tmp_path: Path) -> None:
    folder = write(tmp_path / "pkg", {"__init__.py": ""})
    with pytest.raises(UsageError, match="`name`"):
        build_bundle(folder, tmp_path / "dist", version="1.0", name="../evil")


def test_project_refuses_bare_folder_flags(tmp_path: Path) -> None:
    project = write(tmp_path / "project", {"pyproject.toml": ""})
    with pytest.raises(UsageError, match="`namespace`"):
        build_bundle(project, tmp_path / "dist", namespace="dioptra_custom")


def test_folder_without_python_modules_is_no_package(tmp_path: Path) -> None:
    folder = write(tmp_path / "docs_only", {"README.txt": "x", "docs-src/conf.py": "x = 1\n"})
    with pytest.raises(UsageError, match="neither a project"):
        build_bundle(folder, tmp_path / "dist", version="1.0")


def test_verify_accepts_a_namespace_and_a_portion(tmp_path: Path) -> None:
    namespace = WheelSpec(files={"demo_pkg/a/tasks.py": b"x = 1\n", "demo_pkg/b/t.py": b""})
    assert verify_wheel(namespace.write(tmp_path)).top_level == "demo_pkg"
    portion = WheelSpec(
        name="demo_portion",
        files={"ns/deeper/portion/__init__.py": b"", "ns/deeper/portion/t.py": b""},
    )
    assert verify_wheel(portion.write(tmp_path)).top_level == "ns.deeper.portion"


def test_cli_build_namespace_and_name(tmp_path: Path) -> None:
    write(tmp_path / "dioptra_custom" / "fgm", {"__init__.py": "", "a.py": TASK.format(name="a")})
    command = [sys.executable, "-m", "dioptra_plugins", "build", "dioptra_custom/fgm"]
    command += ["--version", "1.0", "--namespace", "dioptra_custom", "-o", "dist", "--json"]
    done = subprocess.run(command, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stderr
    (entry,) = json.loads(done.stdout)["built"]
    assert (entry["name"], entry["package"], entry["tasks"]) == (
        "dioptra-custom-fgm",
        "dioptra_custom.fgm",
        1,
    )
    two = [*command[:4], "dioptra_custom/fgm", "dioptra_custom/fgm", "--name", "x"]
    refused = subprocess.run(two, cwd=tmp_path, capture_output=True, text=True, check=False)
    assert refused.returncode == 2
    assert "--name names one bundle" in refused.stderr


def test_portion_manifest_and_file_entry_match_the_schemas(tmp_path: Path) -> None:
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource

    from dioptra_plugins.index.documents import FileEntry

    schemas = Path(__file__).resolve().parents[2] / "registry-index"
    resources = []
    for path in schemas.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(schema)))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry = Registry().with_resources(resources)
    project = json.loads((schemas / "project.schema.json").read_text())
    validator = Draft202012Validator(project, registry=registry)

    folder = write(tmp_path / "squeeze", {"squeeze.py": TASK.format(name="squeeze")})
    (folder / "cls.py").write_text(
        "from dioptra import pyplugs\n\n\n@pyplugs.register(label='x')\nclass Thing:\n"
        "    def __init__(self, n: int) -> None:\n        self.n = n\n"
    )
    bundle = verify_wheel(
        build_bundle(folder, tmp_path / "dist", version="1.0", namespace="dioptra_custom")
    )
    entry = file_entry(bundle, "2026-01-01T00:00:00Z")
    document: dict[str, Any] = {"format": 1, "name": bundle.name, "files": [entry.to_json()]}
    validator.validate(document)
    assert FileEntry.from_json(entry.to_json(), "test") == entry
    for hostile in ("../x", "dioptra_custom/squeeze", "a..b", ".".join(["a"] * 17)):
        document["files"][0]["top_level"] = hostile
        assert list(validator.iter_errors(document)), hostile


def test_src_layout_folder_is_not_taken_for_a_namespace(tmp_path: Path) -> None:
    src = write(tmp_path / "project" / "src", {"labplugins/__init__.py": "", "labplugins/m.py": ""})
    with pytest.raises(UsageError, match="src-layout folder"):
        build_bundle(src, tmp_path / "dist", version="1.0")
