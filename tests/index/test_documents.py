"""The format-1 documents: round trips, canonical bytes, and what a reader refuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from jsonschema import Draft202012Validator

from dioptra_plugins.errors import IndexFormatError
from dioptra_plugins.hashing import sha256_hex
from dioptra_plugins.index.documents import (
    FileEntry,
    ProjectDocument,
    ProjectEntry,
    RootDocument,
)

EXAMPLES = Path(__file__).resolve().parents[2] / "registry-index" / "examples"


def entry(version: str, *, yanked: bool = False) -> FileEntry:
    return FileEntry(
        filename=f"demo_pkg-{version}-py3-none-any.whl",
        version=version,
        sha256="a" * 64,
        size=10,
        requires_python=None,
        requires_dist=(),
        yanked=yanked,
        yanked_reason="bad" if yanked else None,
        upload_time="2026-11-23T10:00:00Z",
        core_metadata_sha256="b" * 64,
        top_level="demo_pkg",
        manifest={"format": 1, "package": "demo_pkg", "tasks": []},
    )


def test_project_document_round_trip_is_canonical_and_sorted() -> None:
    document = ProjectDocument("demo-pkg", (entry("1.10.0"), entry("1.2.0"), entry("1.9.0")))
    assert document.versions() == ["1.2.0", "1.9.0", "1.10.0"]
    data = document.to_bytes()
    assert data == json.dumps(json.loads(data), sort_keys=True, separators=(",", ":")).encode()
    again = ProjectDocument.from_bytes(data, sha256_hex(data))
    assert again == document
    assert again.to_bytes() == data
    assert document.key == f"projects/demo-pkg/{sha256_hex(data)}.json"


def test_latest_skips_yanked_and_prefers_final_releases() -> None:
    assert ProjectDocument("p", (entry("1.0"), entry("2.0rc1"))).latest() == "1.0"
    assert ProjectDocument("p", (entry("2.0rc1"),)).latest() == "2.0rc1"
    assert ProjectDocument("p", (entry("1.0"), entry("1.1", yanked=True))).latest() == "1.0"
    assert ProjectDocument("p", (entry("1.0", yanked=True),)).latest() is None


def test_root_round_trip_and_serial_step() -> None:
    document = ProjectDocument("demo-pkg", (entry("1.0"),))
    root = RootDocument.empty().with_projects({"demo-pkg": ProjectEntry.for_document(document)})
    assert root.serial == 1
    assert RootDocument.from_bytes(root.to_bytes()) == root


def test_unknown_keys_are_ignored_for_additive_changes() -> None:
    data = json.loads(RootDocument.empty().to_bytes())
    data["mirror_of"] = "s3://elsewhere"
    assert RootDocument.from_bytes(json.dumps(data).encode()) == RootDocument.empty()


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda d: d.update(format="1"), "unknown format version '1'"),
        (lambda d: d.pop("serial"), "missing field 'serial'"),
        (lambda d: d.update(serial=True), "'serial' must be a non-negative integer"),
        (lambda d: d.update(projects=[]), "'projects' must be an object"),
        (
            lambda d: d["projects"].update(
                {"Bad_Name": {"document": "x", "sha256": "a" * 64, "latest": None}}
            ),
            "not a PEP 503-normalized",
        ),
        (
            lambda d: d["projects"].update(
                {
                    "p": {
                        "document": "projects/q/" + "a" * 64 + ".json",
                        "sha256": "a" * 64,
                        "latest": None,
                    }
                }
            ),
            "does not match",
        ),
        (
            lambda d: d["projects"].update(
                {
                    "p": {
                        "document": "projects/p/" + "a" * 64 + ".json",
                        "sha256": "a" * 64,
                        "latest": "1.0-rc1",
                    }
                }
            ),
            "not normalized",
        ),
    ],
)
def test_malformed_roots_are_refused(mutate: object, message: str) -> None:
    data = json.loads(RootDocument.empty().to_bytes())
    mutate(data)  # type: ignore[operator]
    with pytest.raises(IndexFormatError, match=message):
        RootDocument.from_bytes(json.dumps(data).encode())


def test_a_hash_mismatch_names_both_hashes() -> None:
    data = ProjectDocument("demo-pkg", (entry("1.0"),)).to_bytes()
    with pytest.raises(IndexFormatError, match=f"expected {'0' * 64}, found {sha256_hex(data)}"):
        ProjectDocument.from_bytes(data, "0" * 64)


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("version", "1.0.0.x", "not a valid PEP 440 version"),
        ("sha256", "ABC", "lower-case hex sha256"),
        ("filename", "../evil.whl", "not a wheel filename"),
        ("size", -1, "non-negative"),
        ("requires_dist", [1], "list of strings"),
        ("manifest", None, "must be an object"),
    ],
)
def test_malformed_file_entries_are_refused(field: str, value: object, message: str) -> None:
    data = json.loads(ProjectDocument("demo-pkg", (entry("1.0"),)).to_bytes())
    data["files"][0][field] = value
    with pytest.raises(IndexFormatError, match=message):
        ProjectDocument.from_bytes(json.dumps(data).encode())


def test_the_examples_are_valid_and_consistent(
    root_validator: Draft202012Validator, project_validator: Draft202012Validator
) -> None:
    root_bytes = (EXAMPLES / "index.json").read_bytes()
    root_validator.validate(json.loads(root_bytes))
    root = RootDocument.from_bytes(root_bytes)
    project_bytes = (EXAMPLES / "project-document.json").read_bytes()
    project_validator.validate(json.loads(project_bytes))
    document = ProjectDocument.from_bytes(project_bytes, root.projects[document_name()].sha256)
    assert document.latest() == root.projects[document.name].latest


def document_name() -> str:
    return str(json.loads((EXAMPLES / "project-document.json").read_bytes())["name"])
