"""One test per hostile input that used to escape a reader as a traceback (issue 9).

Each input is a real file: wheels are real zips (damaged by the zip surgery of fuzzhelpers),
documents, MLproject files and locks are written to tmp_path.  Every reader must raise its own
typed error with a message that says what is wrong, and the CLI must turn it into one
``error:`` line and exit 1, never a traceback.
"""

from __future__ import annotations

import copy
import hashlib
import json
import os
import subprocess
import sys
import zipfile
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest
from fuzzhelpers import (
    DIST_INFO,
    NAME,
    TASKS,
    break_local_header,
    corrupt_deflate,
    good_files,
    good_lock_bytes,
    good_project,
    good_root,
    json_document,
    record_for,
    rename_central,
    set_central_crc,
    set_central_flags,
    set_central_method,
    set_central_version_needed,
    truncate_central_directory,
    write_wheel,
)

from dioptra_plugins import sync
from dioptra_plugins.bundle.extract import unpack_wheel
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.entrypoints.mlproject import load_mlproject
from dioptra_plugins.errors import (
    BundleError,
    IndexFormatError,
    MLprojectError,
    SyncError,
)
from dioptra_plugins.index.documents import ProjectDocument, RootDocument
from dioptra_plugins.index.reading import DocumentCache
from dioptra_plugins.index.swap import change_root
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.plugindir.pylock import LockFileError, read_lock
from dioptra_plugins.publishing.publish import publish
from snapshots import tree_snapshot

CLI = str(Path(sys.executable).parent / "dioptra-plugins")
"""The installed console script, run as a real subprocess."""

# --- wheels ----------------------------------------------------------------------------------


def _with(**changed: bytes) -> dict[str, bytes]:
    files = good_files()
    files.update(changed)
    return files


def _damaged(surgery: Callable[[Path], None]) -> Callable[[Path], Path]:
    def make(directory: Path) -> Path:
        path = write_wheel(directory)
        surgery(path)
        return path

    return make


def _appended_empty_name(directory: Path) -> Path:
    path = write_wheel(directory)
    with zipfile.ZipFile(path, "a") as archive:
        archive.writestr(zipfile.ZipInfo(""), b"x")
    return path


def _non_utf8_name(path: Path) -> None:
    set_central_flags(path, TASKS, 0x800)  # "this name is UTF-8"
    rename_central(path, TASKS, b"demo_pkg/t\xffsks.py")


HOSTILE_WHEELS: list[tuple[str, Callable[[Path], Path], str]] = [
    (
        "record-row-too-few-fields",
        lambda d: write_wheel(d, extra_record_rows=(b"demo_pkg/x.py,sha256=abc",)),
        "RECORD line 6: expected 3 fields (path, hash, size), found 2",
    ),
    (
        "record-row-too-many-fields",
        lambda d: write_wheel(d, extra_record_rows=(b"demo_pkg/x.py,sha256=abc,3,extra",)),
        "RECORD line 6: expected 3 fields (path, hash, size), found 4",
    ),
    (
        "record-unbalanced-quote",
        lambda d: write_wheel(d, extra_record_rows=(b'demo_pkg/x.py,"sha256=abc,3', b"a,b,c")),
        "RECORD lines 6-7 (unbalanced quote): expected 3 fields",
    ),
    (
        "record-not-utf8",
        lambda d: write_wheel(d, extra_record_rows=(b"demo_pkg/\xff.py,,",)),
        f"{DIST_INFO}/RECORD: not UTF-8 text",
    ),
    (
        "record-field-beyond-csv-limit",
        lambda d: write_wheel(d, extra_record_rows=(b'x,"' + b"a" * 200_000 + b'",1',)),
        "RECORD line 6: field larger than field limit",
    ),
    (
        "wheel-file-not-utf8",
        lambda d: write_wheel(
            d, _with(**{f"{DIST_INFO}/WHEEL": b"Wheel-Version: 1.0\nRoot-Is-Purelib: tr\xffe\n"})
        ),
        f"{DIST_INFO}/WHEEL: not UTF-8 text",
    ),
    (
        "wheel-file-non-ascii-value",
        lambda d: write_wheel(
            d,
            _with(
                **{
                    f"{DIST_INFO}/WHEEL": "Wheel-Version: 1.0\nRoot-Is-Purelib: trüe\n"
                    "Tag: py3-none-any\n".encode()
                }
            ),
        ),
        f"{DIST_INFO}/WHEEL: Root-Is-Purelib is not true",
    ),
    (
        "metadata-not-utf8",
        lambda d: write_wheel(
            d,
            _with(
                **{
                    f"{DIST_INFO}/METADATA": good_files()[f"{DIST_INFO}/METADATA"]
                    + b"Summary: \xe9\n"
                }
            ),
        ),
        "METADATA: 'summary' has invalid data",
    ),
    (
        "corrupt-deflate-stream",
        _damaged(corrupt_deflate),
        f"{TASKS!r}: cannot be read: corrupt compressed data (Error -3 while decompressing data: "
        "invalid block type)",
    ),
    (
        "crc-mismatch",
        _damaged(lambda p: set_central_crc(p, TASKS, 0)),
        f"{TASKS!r}: cannot be read: Bad CRC-32 for file {TASKS!r}",
    ),
    (
        "truncated-central-directory",
        _damaged(truncate_central_directory),
        "not a valid zip archive: Bad magic number for central directory",
    ),
    (
        "bad-local-header",
        _damaged(lambda p: break_local_header(p, TASKS)),
        f"{TASKS!r}: cannot be read: Bad magic number for file header",
    ),
    (
        "unknown-compression-method",
        _damaged(lambda p: set_central_method(p, TASKS, 99)),
        f"{TASKS!r}: cannot be read: unsupported zip feature (That compression method is not "
        "supported)",
    ),
    (
        "zip-version-too-new",
        _damaged(lambda p: set_central_version_needed(p, TASKS, 241)),
        "not a valid zip archive: unsupported zip feature (zip file version 24.1)",
    ),
    (
        "strong-encryption-flag",
        _damaged(lambda p: set_central_flags(p, TASKS, 0x40)),
        f"{TASKS!r}: cannot be read: unsupported zip feature (strong encryption (flag bit 6))",
    ),
    (
        "entry-name-not-utf8",
        _damaged(_non_utf8_name),
        "not a valid zip archive: an entry name is not valid UTF-8",
    ),
    ("empty-entry-name", _appended_empty_name, "'': empty or '.' path component"),
    (
        "file-and-directory",
        lambda d: write_wheel(d, _with(**{f"{TASKS}/inner.py": b"x = 1\n"})),
        f"{TASKS!r}: both a file and a directory",
    ),
    (
        "source-nested-too-deeply",
        lambda d: write_wheel(d, _with(**{f"{NAME}/deep.py": b"x = " + b"-" * 100_000 + b"1\n"})),
        f"{NAME}/deep.py: nested too deeply to read its tasks",
    ),
    (
        "source-recursing-the-parser",
        lambda d: write_wheel(d, _with(**{f"{NAME}/deep.py": b"x = " + b"1+" * 100_000 + b"1\n"})),
        f"{NAME}/deep.py: nested too deeply to read its tasks",
    ),
    (
        "manifest-nested-too-deeply",
        lambda d: write_wheel(d, _with(**{f"{DIST_INFO}/dioptra_plugins.json": b"[" * 100_000})),
        "dioptra_plugins.json: JSON nested too deeply to read",
    ),
]


@pytest.mark.parametrize(
    ("make", "message"),
    [pytest.param(make, message, id=name) for name, make, message in HOSTILE_WHEELS],
)
def test_hostile_wheel_is_a_bundle_error(
    tmp_path: Path, make: Callable[[Path], Path], message: str
) -> None:
    path = make(tmp_path)
    with pytest.raises(BundleError) as caught:
        verify_wheel(path)
    assert type(caught.value) is BundleError
    assert any(message in problem for problem in caught.value.problems), caught.value.problems
    assert str(caught.value).startswith(f"{path} is not a valid bundle:")


def test_every_record_problem_is_collected(tmp_path: Path) -> None:
    files = good_files()
    record = record_for(files).replace(b"sha256=", b"sha256=X", 1)  # the first hash is wrong
    record += b'short,row\n"unbalanced,row,1\nnext,row,2\n'
    path = write_wheel(tmp_path, files, record=record)
    with pytest.raises(BundleError) as caught:
        verify_wheel(path)
    problems = caught.value.problems
    assert problems == [
        "RECORD line 6: expected 3 fields (path, hash, size), found 2: ['short', 'row']",
        "RECORD lines 7-8 (unbalanced quote): expected 3 fields (path, hash, size), found 1: "
        "['unbalanced,row,1next,row,2']",
        "'demo_pkg/__init__.py': sha256 does not match RECORD",
    ]


# --- extraction ----------------------------------------------------------------------------------
# Extraction is verification with a sink, in one pass: a damaged wheel is refused with every
# problem listed and leaves no directory behind, whether it is read from a file or from memory.

_DAMAGES: list[tuple[str, Callable[[Path], object], str]] = [
    ("corrupt deflate data", corrupt_deflate, f"'{TASKS}': cannot be read: "),
    ("garbage instead of a zip", lambda p: p.write_bytes(b"not a zip" * 100), "not a valid zip"),
    ("a central CRC that lies", lambda p: set_central_crc(p, TASKS, 0), "Bad CRC-32"),
]


@pytest.mark.parametrize("in_memory", [False, True], ids=["file", "memory"])
@pytest.mark.parametrize(
    ("damage", "what"), [(d, w) for _, d, w in _DAMAGES], ids=[n for n, _, _ in _DAMAGES]
)
def test_unpacking_a_damaged_wheel_leaves_nothing(
    tmp_path: Path, damage: Callable[[Path], object], what: str, in_memory: bool
) -> None:
    path = write_wheel(tmp_path / "wheel")
    damage(path)
    dest = tmp_path / "out"
    content = path.read_bytes() if in_memory else None
    with pytest.raises(BundleError) as caught:
        unpack_wheel(path, dest, content=content)
    assert what in str(caught.value)
    assert not dest.exists()


def test_unpacking_a_wheel_that_lost_an_entry_leaves_nothing(tmp_path: Path) -> None:
    files = good_files()
    listed = record_for(files)  # still lists the module
    del files[TASKS]
    path = write_wheel(tmp_path / "wheel", files, record=listed)
    dest = tmp_path / "out"
    with pytest.raises(BundleError, match=f"'{TASKS}': listed in RECORD but not in the archive"):
        unpack_wheel(path, dest)
    assert not dest.exists()


def test_a_full_disk_while_unpacking_is_the_oserror_not_a_bad_bundle(tmp_path: Path) -> None:
    path = write_wheel(tmp_path / "wheel")
    dest = tmp_path / "out"

    class FullDisk:
        def open(self, name: str) -> Any:
            raise OSError(28, "No space left on device", name)

    with pytest.raises(OSError, match="No space left") as caught:
        verify_wheel(path, sink=FullDisk())
    assert not isinstance(caught.value, BundleError)
    assert not dest.exists()


# --- index documents ---------------------------------------------------------------------------

Mutation = Callable[[Any], None]


def _file(**changed: Any) -> Mutation:
    return lambda d: d["files"][0].update(changed)


HOSTILE_ROOTS: list[tuple[str, Mutation | bytes, str]] = [
    ("deep-nesting", b"[" * 100_000, "index.json: JSON nested too deeply (100000 bytes)"),
    ("not-utf8", b'{"format": 1, "serial": "\xff"}', "index.json: not valid JSON"),
    (
        "integer-of-5000-digits",
        b'{"format":1,"serial":' + b"9" * 5000 + b',"projects":{}}',
        "Exceeds the limit (4300 digits)",
    ),
    (
        "serial-beyond-2**63",
        lambda d: d.update(serial=2**63),
        "field 'serial' must be a non-negative integer of at most 2**63-1, found one of 19 digits",
    ),
    (
        "serial-infinite",
        b'{"format":1,"serial":1e400,"projects":{}}',
        "field 'serial' must be a non-negative integer, found inf",
    ),
    ("format-true", lambda d: d.update(format=True), "unknown format version True"),
    ("format-float", lambda d: d.update(format=1.0), "unknown format version 1.0"),
    ("missing-projects", lambda d: d.pop("projects"), "missing field 'projects'"),
    (
        "project-entry-a-list",
        lambda d: d["projects"].update({"demo-pkg": []}),
        "index.json project 'demo-pkg': expected a JSON object, found list",
    ),
    (
        "project-sha256-a-number",
        lambda d: d["projects"]["demo-pkg"].update(sha256=5),
        "field 'sha256' must be a string, found 5",
    ),
    (
        "path-like-project-name",
        lambda d: d["projects"].update({"../x": d["projects"]["demo-pkg"]}),
        "index.json project '../x': not a PEP 503-normalized project name",
    ),
]

HOSTILE_PROJECTS: list[tuple[str, Mutation | bytes, str]] = [
    (
        "deep-nesting",
        b'{"format":1,"files":' + b"[" * 100_000,
        "project document: JSON nested too deeply",
    ),
    ("files-an-object", lambda d: d.update(files={}), "field 'files' must be a list, found {}"),
    (
        "file-a-string",
        lambda d: d["files"].append("x"),
        "project document file #2: expected a JSON object, found str",
    ),
    ("missing-sha256", lambda d: d["files"][0].pop("sha256"), "missing field 'sha256'"),
    (
        "path-like-name",
        lambda d: d.update(name="../demo"),
        "field 'name' must be a PEP 503-normalized project name, found '../demo'",
    ),
    (
        "path-like-filename",
        _file(filename="../../etc/passwd.whl"),
        "filename '../../etc/passwd.whl' is not a wheel filename",
    ),
    (
        "filename-with-nul",
        _file(filename="demo_pkg-1.0.0-py3-none-any\x00.whl"),
        "is not a wheel filename",
    ),
    ("filename-not-a-wheel-name", _file(filename="..whl"), "filename '..whl' is not a wheel"),
    (
        "path-like-top-level",
        _file(top_level="../../x"),
        "field 'top_level' must be an importable package name, found '../../x'",
    ),
    (
        "size-beyond-2**63",
        _file(size=2**64),
        "field 'size' must be a non-negative integer of at most 2**63-1",
    ),
    ("size-a-float", _file(size=10.5), "field 'size' must be a non-negative integer"),
    ("yanked-a-string", _file(yanked="no"), "field 'yanked' must be true or false, found 'no'"),
    (
        "manifest-tasks-not-a-list",
        lambda d: d["files"][0]["manifest"].update(tasks=5),
        "invalid task manifest: dioptra_plugins.json: 'tasks' is not a list",
    ),
    (
        "manifest-task-without-module",
        lambda d: d["files"][0]["manifest"]["tasks"][0].pop("module"),
        "invalid task manifest: dioptra_plugins.json: task 0 has no valid 'module'",
    ),
]


def _document_bytes(good: Any, hostile: Mutation | bytes) -> bytes:
    if isinstance(hostile, bytes):
        return hostile
    document = copy.deepcopy(good)
    hostile(document)
    return json.dumps(document).encode()


@pytest.mark.parametrize(
    ("hostile", "message"),
    [pytest.param(hostile, message, id=name) for name, hostile, message in HOSTILE_ROOTS],
)
def test_hostile_root_is_an_index_format_error(
    tmp_path: Path, hostile: Mutation | bytes, message: str
) -> None:
    path = tmp_path / "index.json"
    path.write_bytes(_document_bytes(json_document(good_root()), hostile))
    with pytest.raises(IndexFormatError) as caught:
        RootDocument.from_bytes(path.read_bytes())
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("hostile", "message"),
    [pytest.param(hostile, message, id=name) for name, hostile, message in HOSTILE_PROJECTS],
)
def test_hostile_project_document_is_an_index_format_error(
    tmp_path: Path, hostile: Mutation | bytes, message: str
) -> None:
    path = tmp_path / "project.json"
    path.write_bytes(_document_bytes(json_document(good_project()), hostile))
    with pytest.raises(IndexFormatError) as caught:
        ProjectDocument.from_bytes(path.read_bytes())
    assert message in str(caught.value)


# --- MLproject ---------------------------------------------------------------------------------

HOSTILE_MLPROJECTS = [
    ("impossible-date", "name: 2001-13-45\n", "invalid YAML value: month must be in 1..12"),
    (
        "impossible-date-in-a-command",
        "entry_points:\n  main:\n    command: 2001-02-30\n",
        "invalid YAML value: day is out of range for month",
    ),
    (
        "timezone-beyond-a-day",
        "name: 2001-12-14t21:59:43.10-99:99\n",
        "invalid YAML value: offset must be a timedelta strictly between",
    ),
    ("int-of-5000-digits", "name: " + "9" * 5000 + "\n", "Exceeds the limit (4300 digits)"),
    ("explicit-int-tag", "name: !!int zz\n", "invalid YAML value: invalid literal for int()"),
    ("explicit-float-tag", "name: !!float zz\n", "invalid YAML value: could not convert"),
    ("explicit-timestamp-tag", "name: !!timestamp x\n", "a value does not match its tag"),
    ("deep-nesting", "name: " + "[" * 100_000 + "\n", "invalid YAML: nested too deeply"),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [pytest.param(text, message, id=name) for name, text, message in HOSTILE_MLPROJECTS],
)
def test_hostile_mlproject_is_an_mlproject_error(tmp_path: Path, text: str, message: str) -> None:
    (tmp_path / "MLproject").write_text(text)
    with pytest.raises(MLprojectError) as caught:
        load_mlproject(tmp_path)
    assert str(caught.value).startswith(f"{tmp_path / 'MLproject'}: ")
    assert message in str(caught.value)


# --- pylock.toml -------------------------------------------------------------------------------

GOOD_LOCK = good_lock_bytes().decode()

HOSTILE_LOCKS: list[tuple[str, str | bytes, str]] = [
    ("not-toml", "\x00garbage", "Invalid statement (at line 1, column 1)"),
    ("not-utf8", b"lock-version = '\xff'\n", "'utf-8' codec can't decode byte 0xff"),
    ("deep-nesting", "a = " + "[" * 100_000, "TOML nested too deeply"),
    ("other-lock-version", 'lock-version = "2.0"\n', "lock-version must be '1.0', found '2.0'"),
    (
        "infinite-size",
        GOOD_LOCK.replace("size = 2048", "size = inf"),
        "packages[0].wheels[0].size must be an integer from 0 to 2**63-1, found inf",
    ),
    (
        "size-a-string",
        GOOD_LOCK.replace("size = 2048", 'size = "2048"'),
        "packages[0].wheels[0].size must be an integer from 0 to 2**63-1, found '2048'",
    ),
    (
        "size-a-boolean",
        GOOD_LOCK.replace("size = 2048", "size = true"),
        "found True",
    ),
    (
        "packages-a-string",
        'lock-version = "1.0"\npackages = "x"\n',
        "packages must be an array of tables, found 'x'",
    ),
    (
        "package-a-number",
        'lock-version = "1.0"\npackages = [1]\n',
        "packages[0] must be a table, found 1",
    ),
    ("tool-a-string", 'lock-version = "1.0"\ntool = "x"\n', "tool must be a table, found 'x'"),
    (
        "missing-hashes",
        GOOD_LOCK.replace("[packages.wheels.hashes]", "[packages.wheels.other]"),
        "missing field packages[0].wheels[0].hashes",
    ),
    (
        "two-wheels",
        GOOD_LOCK.replace(
            "[[packages.wheels]]", '[[packages.wheels]]\nname="a.whl"\n[[packages.wheels]]', 1
        ),
        "packages[0].wheels must list exactly one wheel, found 2",
    ),
    (
        "negative-serial",
        GOOD_LOCK.replace("index-serial = 3", "index-serial = -3"),
        "tool.dioptra-plugins.index-serial must be an integer from 0 to 2**63-1, found -3",
    ),
    (
        "generation-a-number",
        GOOD_LOCK.replace('generation = "000001"', "generation = 1"),
        "tool.dioptra-plugins.generation must be a string, found 1",
    ),
    (
        "path-like-top-level",
        GOOD_LOCK.replace('top-level = "demo_pkg"', 'top-level = "../../x"'),
        "packages[0].tool.dioptra-plugins.top-level must be an importable package name",
    ),
    (
        "path-like-sha256",
        GOOD_LOCK.replace('sha256 = "' + "c" * 64, 'sha256 = "../../x'),
        "packages[0].wheels[0].hashes.sha256 must be a lower-case hex sha256",
    ),
    (
        "invalid-version",
        GOOD_LOCK.replace('version = "1.0.0"', 'version = "one"'),
        "packages[0].version must be a PEP 440 version, found 'one'",
    ),
]


@pytest.mark.parametrize(
    ("text", "message"),
    [pytest.param(text, message, id=name) for name, text, message in HOSTILE_LOCKS],
)
def test_hostile_lock_is_a_lock_file_error(tmp_path: Path, text: str | bytes, message: str) -> None:
    path = tmp_path / "pylock.toml"
    path.write_bytes(text if isinstance(text, bytes) else text.encode())
    with pytest.raises(LockFileError) as caught:
        read_lock(path)
    assert isinstance(caught.value, SyncError)  # exit code 1: a refused operation
    assert str(caught.value).startswith(f"{path} is not a dioptra-plugins lock: ")
    assert message in str(caught.value)


# --- the CLI -----------------------------------------------------------------------------------


def cli(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [CLI, *args],
        capture_output=True,
        text=True,
        timeout=120,
        env={**os.environ, **(env or {})},
    )


def assert_refused(done: subprocess.CompletedProcess[str], message: str) -> None:
    """Exit 1, one ``error:`` line on stderr containing ``message``, and no traceback."""
    output = done.stdout + done.stderr
    assert done.returncode == 1, output
    assert "Traceback" not in output
    errors = [line for line in output.splitlines() if line.startswith("error:")]
    assert len(errors) == 1, output
    assert message in done.stderr


def test_cli_inspect_of_a_deflate_corrupted_wheel(tmp_path: Path) -> None:
    path = write_wheel(tmp_path)
    corrupt_deflate(path)
    assert_refused(cli("inspect", str(path)), "corrupt compressed data")


def test_cli_publish_of_a_deflate_corrupted_wheel(tmp_path: Path) -> None:
    path = write_wheel(tmp_path / "wheels")
    corrupt_deflate(path)
    index = tmp_path / "index"
    assert_refused(cli("publish", "--index", str(index), str(path)), "corrupt compressed data")
    assert not (index / "bundles").exists()


def test_cli_sync_locked_with_a_garbage_lock(tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_bytes(b"\x00\xff this is not a lock")
    plugin_dir = tmp_path / "plugins"
    done = cli("sync", "--locked", str(lock), "--plugin-dir", str(plugin_dir), "--index", "x")
    assert_refused(done, f"error: {lock} is not a dioptra-plugins lock")
    assert not plugin_dir.exists()


def test_cli_sync_locked_with_an_infinite_size(tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text(GOOD_LOCK.replace("size = 2048", "size = inf"))
    done = cli("sync", "--locked", str(lock), "--plugin-dir", str(tmp_path / "plugins"))
    assert_refused(done, "size must be an integer from 0 to 2**63-1, found inf")


# --- a sync refused because a bundle in the index does not decompress ----------------------------


def outside_the_cache(snapshot: dict[str, str]) -> dict[str, str]:
    return {k: v for k, v in snapshot.items() if not k.startswith(".dioptra-plugins/cache")}


@pytest.fixture
def corrupted_index(tmp_path: Path, built_wheels: dict[str, Path]) -> tuple[str, Path]:
    """alpha 1.0.0 synced; the index then honestly lists an alpha 1.1.0 whose deflate is bad."""
    index = str(tmp_path / "index")
    publish(open_storage(index), [built_wheels["1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index, plugin_dir=plugin_dir)

    damaged = tmp_path / built_wheels["1.1.0"].name
    damaged.write_bytes(built_wheels["1.1.0"].read_bytes())
    corrupt_deflate(damaged, "alpha/mod1.py")
    data = damaged.read_bytes()
    storage = open_storage(index)
    storage.put_new(f"bundles/alpha/{damaged.name}", data)

    def add(root: RootDocument, documents: DocumentCache) -> dict[str, ProjectDocument]:
        document = documents.get(root, "alpha")
        assert document is not None
        entry = replace(
            document.files[0],
            filename=damaged.name,
            version="1.1.0",
            sha256=hashlib.sha256(data).hexdigest(),
            size=len(data),
        )
        return {"alpha": document.with_files([*document.files, entry])}

    change_root(storage, add)
    return index, plugin_dir


def test_sync_refused_for_a_corrupted_bundle_changes_no_plugin_file(
    corrupted_index: tuple[str, Path],
) -> None:
    index, plugin_dir = corrupted_index
    before = tree_snapshot(plugin_dir, modes=True)
    done = cli("sync", "alpha", "--index", index, "--plugin-dir", str(plugin_dir))
    assert_refused(done, "'alpha/mod1.py': cannot be read: corrupt compressed data")
    assert outside_the_cache(tree_snapshot(plugin_dir, modes=True)) == outside_the_cache(before)


def test_sync_refused_for_a_corrupted_bundle_leaves_the_plugin_dir_byte_identical(
    corrupted_index: tuple[str, Path],
) -> None:
    index, plugin_dir = corrupted_index
    before = tree_snapshot(plugin_dir, modes=True)
    with pytest.raises(BundleError, match="corrupt compressed data"):
        sync(["alpha"], index=index, plugin_dir=plugin_dir)
    assert tree_snapshot(plugin_dir, modes=True) == before


@pytest.mark.parametrize(
    "source", [b"x = " + b"1+" * 200_000 + b"1\n", b"x = " + b"-" * 200_000 + b"1\n"]
)
def test_building_absurdly_nested_source_is_a_manifest_error(source: bytes) -> None:
    from dioptra_plugins.bundle.manifest import tasks_in_source
    from dioptra_plugins.errors import ManifestError

    with pytest.raises(ManifestError, match="nested too deeply"):
        tasks_in_source(source, "pkg.deep", "pkg/deep.py")


def test_a_lock_file_that_is_a_directory_is_one_message(tmp_path: Path) -> None:
    from dioptra_plugins.errors import UsageError

    with pytest.raises(UsageError, match="cannot read lock file"):
        sync(locked=tmp_path, plugin_dir=tmp_path / "plugins", index=str(tmp_path / "index"))
