"""The manifests ``build`` writes validate against registry-index/task-manifest.schema.json."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator
from test_build import make_package

from dioptra_plugins.bundle.build import build_bundle

ROOT = Path(__file__).resolve().parents[2]
SCHEMA = json.loads((ROOT / "registry-index" / "task-manifest.schema.json").read_text())


def manifest_of(wheel: Path) -> object:
    with zipfile.ZipFile(wheel) as archive:
        (name,) = [n for n in archive.namelist() if n.endswith(".dist-info/dioptra_plugins.json")]
        return json.loads(archive.read(name))


@pytest.mark.parametrize(
    "source",
    [
        ROOT / "plugin-packages" / "dioptra_builtins",
        ROOT / "plugin-packages" / "dioptra_examples",
    ],
    ids=["dioptra_builtins", "dioptra_examples"],
)
def test_shipped_package_manifest_matches_schema(source: Path, tmp_path: Path) -> None:
    manifest = manifest_of(build_bundle(source, tmp_path))
    Draft202012Validator.check_schema(SCHEMA)
    Draft202012Validator(SCHEMA).validate(manifest)
    assert isinstance(manifest, dict)
    assert manifest["tasks"], "the shipped packages register tasks"


def test_generated_manifest_matches_schema(tmp_path: Path) -> None:
    manifest = manifest_of(build_bundle(make_package(tmp_path), tmp_path / "dist", version="1"))
    Draft202012Validator(SCHEMA).validate(manifest)


def test_schema_rejects_a_broken_manifest() -> None:
    broken = {"format": 1, "package": "x", "tasks": [{"module": "x", "function": "f"}]}
    assert list(Draft202012Validator(SCHEMA).iter_errors(broken))
