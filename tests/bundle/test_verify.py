"""The verifier against a corpus of hostile and broken wheels, each a real zip."""

from __future__ import annotations

import hashlib
import random
import stat
import warnings
import zipfile
from collections.abc import Callable
from pathlib import Path

import pytest

from dioptra_plugins.bundle.extract import unpack_wheel
from dioptra_plugins.bundle.verify import Limits, verify_wheel
from dioptra_plugins.errors import BundleError
from wheelfactory import WheelSpec, record_hash


def problems_of(path: Path, limits: Limits | None = None) -> list[str]:
    with pytest.raises(BundleError) as caught:
        verify_wheel(path, limits)
    assert caught.value.problems, "a BundleError must list at least one problem"
    return caught.value.problems


def _rename_in_zip(path: Path, old: str, new: bytes) -> None:
    """Rewrite an entry name in both the local header and the central directory."""
    data = path.read_bytes()
    assert len(new) == len(old.encode())
    path.write_bytes(data.replace(old.encode(), new))


def _spec(**changes: object) -> WheelSpec:
    spec = WheelSpec()
    for key, value in changes.items():
        setattr(spec, key, value)
    return spec


def _with_file(name: str, data: bytes = b"x = 1\n", **changes: object) -> WheelSpec:
    spec = _spec(**changes)
    spec.files[name] = data
    return spec


def _null_name(tmp: Path) -> Path:
    path = _with_file("demo_pkg/evil_X.py").write(tmp)
    _rename_in_zip(path, "demo_pkg/evil_X.py", b"demo_pkg/evil_\x00.py")
    return path


def _duplicate(tmp: Path) -> Path:
    path = WheelSpec().write(tmp)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", UserWarning)  # zipfile warns about the duplicate
        with zipfile.ZipFile(path, "a") as archive:
            archive.writestr("demo_pkg/tasks.py", b"print('second copy')\n")
    return path


def _truncated(tmp: Path) -> Path:
    path = WheelSpec().write(tmp)
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return path


def _not_zip(tmp: Path) -> Path:
    path = tmp / "demo_pkg-1.0-py3-none-any.whl"
    path.write_bytes(b"this is not a zip file at all" * 10)
    return path


def _bomb(tmp: Path) -> Path:
    return _with_file("demo_pkg/zeros.bin", b"\0" * (8 * 1024 * 1024)).write(tmp)


def _tamper_hash(tmp: Path) -> Path:
    spec = WheelSpec()
    spec.record_overrides["demo_pkg/tasks.py"] = (
        f"demo_pkg/tasks.py,{record_hash(b'other bytes')},{len(spec.files['demo_pkg/tasks.py'])}"
    )
    return spec.write(tmp)


def _tamper_size(tmp: Path) -> Path:
    spec = WheelSpec()
    data = spec.files["demo_pkg/tasks.py"]
    spec.record_overrides["demo_pkg/tasks.py"] = f"demo_pkg/tasks.py,{record_hash(data)},999"
    return spec.write(tmp)


def _md5(tmp: Path) -> Path:
    spec = WheelSpec()
    spec.record_overrides["demo_pkg/tasks.py"] = "demo_pkg/tasks.py,md5=AAAA,10"
    return spec.write(tmp)


def _no_hash(tmp: Path) -> Path:
    spec = WheelSpec()
    spec.record_overrides["demo_pkg/tasks.py"] = "demo_pkg/tasks.py,,"
    return spec.write(tmp)


def _two_dist_infos(tmp: Path) -> Path:
    return _with_file("other-2.0.dist-info/METADATA", b"Name: other\n").write(tmp)


def _bad_manifest(tmp: Path) -> Path:
    return _with_file("demo_pkg-1.0.dist-info/dioptra_plugins.json", b"{not json").write(tmp)


# (id, how to make the wheel, a fragment the reason must contain)
HOSTILE: list[tuple[str, Callable[[Path], Path], str]] = [
    ("bad-filename", lambda t: _spec(filename="demo.whl").write(t), "filename"),
    (
        "platform-wheel",
        lambda t: _spec(filename="demo_pkg-1.0-cp311-cp311-linux_x86_64.whl").write(t),
        "pure-Python",
    ),
    ("not-a-zip", _not_zip, "not a valid zip"),
    ("truncated-zip", _truncated, "not a valid zip"),
    (
        "missing-WHEEL",
        lambda t: _spec(omit={"demo_pkg-1.0.dist-info/WHEEL"}).write(t),
        "WHEEL is missing",
    ),
    (
        "missing-METADATA",
        lambda t: _spec(omit={"demo_pkg-1.0.dist-info/METADATA"}).write(t),
        "METADATA is missing",
    ),
    (
        "missing-RECORD",
        lambda t: _spec(omit={"demo_pkg-1.0.dist-info/RECORD"}).write(t),
        "RECORD is missing",
    ),
    (
        "bad-WHEEL-version",
        lambda t: _spec(
            wheel_text="Wheel-Version: 9.0\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ).write(t),
        "Wheel-Version",
    ),
    (
        "METADATA-name-mismatch",
        lambda t: _spec(metadata_text="Metadata-Version: 2.1\nName: other\nVersion: 1.0\n").write(
            t
        ),
        "does not match the filename",
    ),
    (
        "METADATA-bad-version",
        lambda t: _spec(
            metadata_text="Metadata-Version: 2.1\nName: demo_pkg\nVersion: not.a.version!\n"
        ).write(t),
        "METADATA",
    ),
    (
        "file-not-in-RECORD",
        lambda t: _spec(unrecorded={"demo_pkg/tasks.py"}).write(t),
        "not in RECORD",
    ),
    (
        "RECORD-entry-not-in-zip",
        lambda t: _spec(extra_record_rows=[f"demo_pkg/ghost.py,{record_hash(b'x')},1"]).write(t),
        "not in the archive",
    ),
    ("wrong-hash", _tamper_hash, "sha256 does not match"),
    ("wrong-size", _tamper_size, "RECORD size 999"),
    ("md5-hash", _md5, "sha256 is required"),
    ("no-hash", _no_hash, "no hash"),
    ("duplicate-entry", _duplicate, "duplicate entry"),
    ("absolute-path", lambda t: _with_file("/etc/evil.py").write(t), "absolute path"),
    ("dot-dot-path", lambda t: _with_file("demo_pkg/../../evil.py").write(t), "'..'"),
    ("backslash", lambda t: _with_file("demo_pkg\\evil.py").write(t), "backslash"),
    ("drive-letter", lambda t: _with_file("C:/evil.py").write(t), "drive letter"),
    ("nul-in-name", _null_name, "NUL byte"),
    (
        "symlink",
        lambda t: _with_file(
            "demo_pkg/link", b"/etc/passwd", modes={"demo_pkg/link": stat.S_IFLNK | 0o777}
        ).write(t),
        "symbolic link",
    ),
    (
        "fifo",
        lambda t: _with_file(
            "demo_pkg/fifo", b"", modes={"demo_pkg/fifo": stat.S_IFIFO | 0o644}
        ).write(t),
        "special file",
    ),
    (
        "char-device",
        lambda t: _with_file(
            "demo_pkg/dev", b"", modes={"demo_pkg/dev": stat.S_IFCHR | 0o644}
        ).write(t),
        "special file",
    ),
    ("zip-bomb-ratio", _bomb, "compression ratio"),
    (
        "two-top-level-packages",
        lambda t: _with_file("other_pkg/__init__.py", b"").write(t),
        "exactly one top-level package",
    ),
    ("top-level-module", lambda t: _with_file("evil.py").write(t), "top-level module"),
    (
        "data-directory",
        lambda t: _with_file("demo_pkg-1.0.data/scripts/run", b"#!/bin/sh\n").write(t),
        ".data directories",
    ),
    (
        "namespace-without-modules",
        lambda t: _spec(files={"demo_pkg/README.txt": b"no code\n"}).write(t),
        "holds no importable Python module",
    ),
    (
        "portion-not-importable",
        lambda t: _spec(files={"demo_pkg/fgm-plugins/tasks.py": b"x = 1\n"}).write(t),
        "the namespace portion is not an importable package name",
    ),
    (
        "portion-too-deep",
        lambda t: _spec(files={"demo_pkg/" + "a/" * 20 + "tasks.py": b"x = 1\n"}).write(t),
        "the namespace portion is not an importable package name",
    ),
    ("two-dist-infos", _two_dist_infos, "exactly one .dist-info"),
    ("bad-manifest", _bad_manifest, "not valid JSON"),
    (
        "syntax-error-in-plugin",
        lambda t: _with_file("demo_pkg/broken.py", b"def f(:\n    pass\n").write(t),
        "demo_pkg/broken.py:1",
    ),
]


@pytest.mark.parametrize(
    ("make", "reason"), [(m, r) for _, m, r in HOSTILE], ids=[i for i, _, _ in HOSTILE]
)
def test_hostile_wheel_is_refused_with_its_reason(
    tmp_path: Path, make: Callable[[Path], Path], reason: str
) -> None:
    problems = problems_of(make(tmp_path))
    assert any(reason in problem for problem in problems), problems


def test_corpus_is_large_enough() -> None:
    assert len(HOSTILE) >= 20


def test_total_size_limit_is_configurable(tmp_path: Path) -> None:
    path = _with_file("demo_pkg/data.bin", b"x" * 5000).write(tmp_path)
    verify_wheel(path)  # fine with the default limits
    problems = problems_of(path, Limits(max_total_size=4096))
    assert any("exceeds the limit of 4096" in p for p in problems)


def test_entry_count_limit(tmp_path: Path) -> None:
    spec = WheelSpec()
    for number in range(30):
        spec.files[f"demo_pkg/m{number}.py"] = b""
    assert any("entries" in p for p in problems_of(spec.write(tmp_path), Limits(max_entries=10)))


def test_every_problem_is_listed_not_just_the_first(tmp_path: Path) -> None:
    spec = _spec(unrecorded={"demo_pkg/__init__.py"})
    spec.record_overrides["demo_pkg/tasks.py"] = f"demo_pkg/tasks.py,{record_hash(b'no')},3"
    spec.extra_record_rows.append(f"demo_pkg/ghost.py,{record_hash(b'x')},1")
    problems = problems_of(spec.write(tmp_path))
    assert len(problems) >= 3, problems
    text = "\n".join(problems)
    assert "not in RECORD" in text
    assert "RECORD size 3" in text
    assert "not in the archive" in text


def test_hostile_names_are_refused_before_anything_is_decompressed(tmp_path: Path) -> None:
    # A bomb and a traversal together: the refusal lists both and never reads the bomb.
    spec = _with_file("demo_pkg/zeros.bin", b"\0" * (8 * 1024 * 1024))
    spec.files["../escape.py"] = b"x"
    problems = problems_of(spec.write(tmp_path))
    assert any("compression ratio" in p for p in problems)
    assert any("'..'" in p for p in problems)
    assert not any("sha256" in p for p in problems)


def test_missing_file(tmp_path: Path) -> None:
    assert problems_of(tmp_path / "nothere-1.0-py3-none-any.whl") == ["no such file"]


def test_good_wheel_is_described(tmp_path: Path) -> None:
    bundle = verify_wheel(WheelSpec().write(tmp_path))
    assert (bundle.name, bundle.version, bundle.top_level) == ("demo-pkg", "1.0", "demo_pkg")
    assert bundle.requires_dist == ["numpy>=1"]
    assert bundle.requires_python == ">=3.11"
    assert {f.path for f in bundle.files} == {
        "demo_pkg/__init__.py",
        "demo_pkg/tasks.py",
        "demo_pkg-1.0.dist-info/WHEEL",
        "demo_pkg-1.0.dist-info/METADATA",
    }
    # No manifest file in this wheel: it is read from the syntax tree instead.
    assert [(t["module"], t["function"]) for t in bundle.manifest["tasks"]] == [
        ("demo_pkg.tasks", "double")
    ]


@pytest.mark.parametrize("in_memory", [False, True], ids=["file", "memory"])
def test_good_wheel_extracts_byte_exact(tmp_path: Path, in_memory: bool) -> None:
    spec = WheelSpec()
    spec.files["demo_pkg/sub/__init__.py"] = b""
    spec.files["demo_pkg/sub/data.bin"] = bytes(range(256)) * 100
    # 3 MiB that do not compress: read in chunks (seeded, so a failure replays).
    spec.files["demo_pkg/sub/big.bin"] = random.Random(0).randbytes(3 * 1024 * 1024)
    path = spec.write(tmp_path)
    dest = tmp_path / "out"
    content = path.read_bytes() if in_memory else None
    bundle = unpack_wheel(path, dest, content=content)
    assert bundle == verify_wheel(path)
    for name, data in spec.all_files().items():
        assert (dest / name).read_bytes() == data
    written = sorted(str(p.relative_to(dest)) for p in dest.rglob("*") if p.is_file())
    assert written == sorted([*spec.all_files(), "demo_pkg-1.0.dist-info/RECORD"])
    assert {(dest / name).stat().st_mode & 0o777 for name in written} == {0o444}


def test_extract_refuses_an_existing_destination(tmp_path: Path) -> None:
    path = WheelSpec().write(tmp_path)
    (tmp_path / "out").mkdir()
    with pytest.raises(FileExistsError):
        unpack_wheel(path, tmp_path / "out")
    assert list((tmp_path / "out").iterdir()) == []


def test_an_entry_that_does_not_match_record_is_not_left_on_disk(tmp_path: Path) -> None:
    spec = WheelSpec()
    path = spec.write(tmp_path)
    with zipfile.ZipFile(path) as archive:
        entries = {info.filename: archive.read(info) for info in archive.infolist()}
    # Same size, other bytes; the old RECORD stays.
    entries["demo_pkg/tasks.py"] = bytes(reversed(entries["demo_pkg/tasks.py"]))
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in entries.items():
            archive.writestr(name, data)
    with pytest.raises(BundleError, match=r"'demo_pkg/tasks\.py': sha256 does not match RECORD"):
        unpack_wheel(path, tmp_path / "out")
    assert not (tmp_path / "out").exists()


def test_the_wheel_hash_given_by_the_caller_is_not_recomputed(tmp_path: Path) -> None:
    path = WheelSpec().write(tmp_path)
    data = path.read_bytes()
    digest = hashlib.sha256(data).hexdigest()
    from_memory = verify_wheel(tmp_path / "elsewhere" / path.name, content=data, sha256=digest)
    assert (from_memory.sha256, from_memory.size) == (digest, len(data))
    assert verify_wheel(path).sha256 == digest
