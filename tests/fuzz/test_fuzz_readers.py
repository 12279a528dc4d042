"""A fast hypothesis slice per reader of untrusted bytes: only typed errors may come out.

Each reader gets inputs made from a good one (bit flips, truncation, insertion, replaced
values) and plain garbage.  A reader may accept an input or raise its own error family
member; anything else (zlib.error, KeyError, RecursionError, ...) fails the test.  Accepted
inputs are also used the way the library uses them (a verified wheel is extracted, an accepted
document is serialized and read back) so that acceptance cannot hide a later crash.  The long
runs live in bench/fuzz_readers.py.
"""

from __future__ import annotations

import contextlib
import datetime
import json
import math
import re
import shutil
import tempfile
import tomllib
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
import tomli_w
import yaml
from fuzzhelpers import (
    DIST_INFO,
    GOOD_MLPROJECT,
    good_files,
    good_lock_bytes,
    good_project,
    good_root,
    json_document,
    record_for,
    write_wheel,
)
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from dioptra_plugins.bundle.extract import unpack_wheel
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.entrypoints.mlproject import parse_mlproject
from dioptra_plugins.errors import (
    BundleError,
    IndexFormatError,
    MLprojectError,
)
from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.plugindir.pylock import LockFileError, lock_from_toml

FUZZ = settings(
    max_examples=120,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    database=None,
)


@pytest.fixture(scope="module")
def workdir() -> Iterator[Path]:
    """One scratch directory for every example (hypothesis reruns a test many times)."""
    directory = Path(tempfile.mkdtemp(prefix="fuzz-readers-"))
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


# --- mutations of bytes ----------------------------------------------------------------------


@st.composite
def mutated(draw: st.DrawFn, good: bytes) -> bytes:
    """``good`` after a few bit flips, byte overwrites, insertions, deletions or a truncation."""
    data = bytearray(good)
    for _ in range(draw(st.integers(1, 4))):
        kind = draw(st.sampled_from(["flip", "byte", "insert", "delete", "truncate"]))
        at = draw(st.integers(0, max(len(data) - 1, 0)))
        if kind == "flip" and data:
            data[at] ^= 1 << draw(st.integers(0, 7))
        elif kind == "byte" and data:
            data[at] = draw(st.integers(0, 255))
        elif kind == "insert":
            data[at:at] = draw(st.binary(min_size=1, max_size=16))
        elif kind == "delete":
            del data[at : at + draw(st.integers(1, 16))]
        else:
            del data[at:]
    return bytes(data)


# --- wheels ----------------------------------------------------------------------------------


def check_wheel(path: Path, workdir: Path) -> None:
    """Verify, and unpack from memory: only BundleError may come out, the same from both, and a
    refused unpack leaves no directory."""
    dest = workdir / "extracted"
    shutil.rmtree(dest, ignore_errors=True)
    problems: list[str] = []
    try:
        bundle = verify_wheel(path)
    except BundleError as error:
        problems = error.problems
    if not problems:
        assert unpack_wheel(path, dest, content=path.read_bytes()) == replace(bundle, path=path)
        return
    with pytest.raises(BundleError) as unpacking:
        unpack_wheel(path, dest, content=path.read_bytes())
    # The same problems; only how a damaged entry fails to read may differ between a file and
    # bytes in memory (EINVAL against "negative seek value").
    assert [_unread(p) for p in unpacking.value.problems] == [_unread(p) for p in problems]
    assert not dest.exists()


def _unread(problem: str) -> str:
    return re.sub(r"cannot be read: .*", "cannot be read", problem)


@pytest.fixture(scope="module")
def small_wheel(workdir: Path) -> bytes:
    return write_wheel(workdir / "good").read_bytes()


@FUZZ
@given(data=st.data())
def test_mutated_small_wheels(data: st.DataObject, small_wheel: bytes, workdir: Path) -> None:
    path = workdir / "demo_pkg-1.0-py3-none-any.whl"
    path.write_bytes(data.draw(mutated(small_wheel)))
    check_wheel(path, workdir)


@FUZZ
@given(data=st.data())
def test_mutated_built_wheels(
    data: st.DataObject, built_wheels: dict[str, Path], workdir: Path
) -> None:
    good = built_wheels["1.0.0"]
    path = workdir / good.name
    path.write_bytes(data.draw(mutated(good.read_bytes())))
    check_wheel(path, workdir)


@FUZZ
@given(record=st.binary(max_size=400) | st.text(max_size=300).map(str.encode))
def test_garbage_record(record: bytes, workdir: Path) -> None:
    path = write_wheel(workdir / "record", record=record)
    check_wheel(path, workdir)


@FUZZ
@given(data=st.data())
def test_mutated_record(data: st.DataObject, workdir: Path) -> None:
    record = data.draw(mutated(record_for(good_files())))
    path = write_wheel(workdir / "record", record=record)
    check_wheel(path, workdir)


@FUZZ
@given(data=st.data(), which=st.sampled_from(["WHEEL", "METADATA", "dioptra_plugins.json"]))
def test_mutated_wheel_and_metadata_files(data: st.DataObject, which: str, workdir: Path) -> None:
    files = good_files()
    name = f"{DIST_INFO}/{which}"
    good = files.get(name, b'{"format": 1, "package": "demo_pkg", "tasks": []}')
    files[name] = data.draw(mutated(good) | st.binary(max_size=200))
    path = write_wheel(workdir / "dist-info", files)
    check_wheel(path, workdir)


@FUZZ
@given(source=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_garbage_plugin_source(source: bytes, workdir: Path) -> None:
    files = good_files()
    files["demo_pkg/tasks.py"] = source
    check_wheel(write_wheel(workdir / "source", files), workdir)


# --- index documents ---------------------------------------------------------------------------

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.sampled_from([2**63, 2**64, -1, 10**40, 0])
    | st.floats(allow_nan=False)
    | st.text(max_size=20)
    | st.sampled_from(["../x", "x/../../y.whl", "a" * 64, "1.0.0", "demo-pkg", "\x00", ""]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)


@st.composite
def replaced_value(draw: st.DrawFn, good: Any) -> Any:
    """``good`` (parsed JSON/TOML) with one value somewhere in it replaced, added or removed."""
    document = json.loads(json.dumps(good, default=str))
    node = document
    while isinstance(node, dict | list) and node and draw(st.booleans()):
        keys = list(node) if isinstance(node, dict) else list(range(len(node)))
        key = draw(st.sampled_from(keys))
        child = node[key]
        if not isinstance(child, dict | list) or not child:
            break
        node = child
    if isinstance(node, dict) and node:
        key = draw(st.sampled_from(list(node)))
        action = draw(st.sampled_from(["replace", "delete", "add"]))
        if action == "delete":
            del node[key]
        elif action == "add":
            node[draw(st.text(max_size=8))] = draw(json_values)
        else:
            node[key] = draw(json_values)
    elif isinstance(node, list) and node:
        node[draw(st.integers(0, len(node) - 1))] = draw(json_values)
    return document


def check_root(data: bytes) -> None:
    try:
        root = RootDocument.from_bytes(data)
    except IndexFormatError:
        return
    assert RootDocument.from_bytes(root.to_bytes()) == root


def check_project(data: bytes) -> None:
    try:
        document = ProjectDocument.from_bytes(data)
    except IndexFormatError:
        return
    document.latest()
    assert ProjectDocument.from_bytes(document.to_bytes()) == document


ROOT = json_document(good_root())
PROJECT = json_document(good_project())


@FUZZ
@given(document=replaced_value(ROOT))
def test_roots_with_a_replaced_value(document: Any) -> None:
    check_root(json.dumps(document).encode())


@FUZZ
@given(document=replaced_value(PROJECT))
def test_project_documents_with_a_replaced_value(document: Any) -> None:
    check_project(json.dumps(document).encode())


@FUZZ
@given(data=st.data())
def test_mutated_document_bytes(data: st.DataObject) -> None:
    check_root(data.draw(mutated(good_root().to_bytes())))
    check_project(data.draw(mutated(good_project().to_bytes())))


@FUZZ
@given(document=json_values, depth=st.integers(0, 3000))
def test_garbage_json_documents(document: Any, depth: int) -> None:
    for data in (json.dumps(document).encode(), b"[" * depth + b"]" * depth):
        check_root(data)
        check_project(data)


# --- MLproject ---------------------------------------------------------------------------------

yaml_scalars = st.sampled_from(
    [
        "2001-13-45",
        "2001-02-30",
        "!!timestamp x",
        "!!int zz",
        "!!float zz",
        "!!binary ###",
        "9" * 5000,
        "0x" + "f" * 40,
        "1:2:3",
        "~",
        "yes",
        ".inf",
        "*alias",
        "&a [*a]",
        "{a: 1, a: 2}",
        "[" * 200,
        "? [a, b]",
        "!!python/object:os.system x",
        "'unterminated",
        "\t",
    ]
)


@st.composite
def mlproject_texts(draw: st.DrawFn) -> str:
    lines = GOOD_MLPROJECT.splitlines()
    for _ in range(draw(st.integers(1, 3))):
        at = draw(st.integers(0, len(lines) - 1))
        line = lines[at]
        cut = draw(st.integers(0, len(line)))
        piece = draw(yaml_scalars | st.text(max_size=10))
        lines[at] = line[:cut] + piece + line[cut:]
    return "\n".join(lines) + "\n"


def check_mlproject(text: str) -> None:
    with contextlib.suppress(MLprojectError):
        parse_mlproject(text, Path("MLproject"))


@FUZZ
@given(text=mlproject_texts())
def test_mutated_mlprojects(text: str) -> None:
    check_mlproject(text)


@FUZZ
@given(text=st.text(max_size=300))
def test_garbage_mlprojects(text: str) -> None:
    check_mlproject(text)


@FUZZ
@given(document=json_values)
def test_mlprojects_of_any_structure(document: Any) -> None:
    check_mlproject(yaml.safe_dump({"name": "x", "entry_points": document}))
    check_mlproject(yaml.safe_dump({"entry_points": {"main": document}}))


# --- pylock.toml -------------------------------------------------------------------------------

toml_values = st.recursive(
    st.booleans()
    | st.integers(min_value=-(2**64), max_value=2**64)
    | st.floats()
    | st.sampled_from([math.inf, -math.inf, math.nan])
    | st.text(max_size=20)
    | st.dates()
    | st.sampled_from([datetime.time(1, 2), "../x", "a" * 64, "x.whl", "000001", ""]),
    lambda children: (
        st.lists(children, max_size=3) | st.dictionaries(st.text(max_size=8), children, max_size=3)
    ),
    max_leaves=8,
)

LOCK = tomllib.loads(good_lock_bytes().decode())


@st.composite
def replaced_toml(draw: st.DrawFn) -> bytes:
    document = draw(replaced_value(LOCK))
    if draw(st.booleans()):
        # And one top-level value replaced by a TOML-only one (dates, times, inf, nan).
        document[draw(st.sampled_from(list(document)))] = draw(toml_values)
    try:
        return tomli_w.dumps(document).encode()
    except (TypeError, ValueError):
        return good_lock_bytes()


def check_lock(data: bytes) -> None:
    with contextlib.suppress(LockFileError):
        lock_from_toml(data)


@FUZZ
@given(data=replaced_toml())
def test_locks_with_a_replaced_value(data: bytes) -> None:
    check_lock(data)


@FUZZ
@given(data=st.data())
def test_mutated_lock_bytes(data: st.DataObject) -> None:
    check_lock(data.draw(mutated(good_lock_bytes())))


@FUZZ
@given(data=st.binary(max_size=200) | st.text(max_size=200).map(str.encode))
def test_garbage_locks(data: bytes) -> None:
    check_lock(data)
