"""Fixtures of the index tests: wheels, storages, schema validation."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from index_helpers import WheelMaker
from index_wheels import write_wheel
from jsonschema import Draft202012Validator
from referencing import Registry, Resource

from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.url import open_storage

SCHEMAS = Path(__file__).resolve().parents[2] / "registry-index"


@pytest.fixture
def make_wheel(tmp_path: Path) -> WheelMaker:
    """``make_wheel(name, version, **options)`` -> a fresh valid bundle in tmp_path."""
    counter = iter(range(1_000_000))

    def make(name: str = "demo_pkg", version: str = "1.0.0", **options: Any) -> Path:
        return write_wheel(tmp_path / f"wheels-{next(counter)}", name, version, **options)

    return make


@pytest.fixture
def storage(index_url: str) -> Storage:
    return open_storage(index_url)


def _validator(schema_file: str) -> Draft202012Validator:
    resources = []
    for path in SCHEMAS.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        resources.append((path.name, Resource.from_contents(schema)))
        resources.append((schema["$id"], Resource.from_contents(schema)))
    registry: Registry[Any] = Registry().with_resources(resources)
    schema = json.loads((SCHEMAS / schema_file).read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, registry=registry)


@pytest.fixture(scope="session")
def root_validator() -> Draft202012Validator:
    return _validator("root.schema.json")


@pytest.fixture(scope="session")
def project_validator() -> Draft202012Validator:
    return _validator("project.schema.json")
