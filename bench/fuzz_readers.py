"""Fuzz every reader of untrusted bytes and count what comes out (issue 9).

Not a test and not a timing: a long run of generated inputs through the library readers, each
outcome counted as accepted, a typed error (a DioptraPluginsError) or an untyped error (any
other exception, a failure).  Inputs are made from good ones:

- wheels: a real bundle built by hatchling (deflate, with its task manifest), and a small one
  with stored, deflate, bzip2 or lzma entries, after bit flips, byte overwrites, insertions,
  deletions, duplicated chunks or a truncation; accepted wheels are extracted too;
- RECORD, WHEEL and METADATA: those files of a small wheel replaced by mutated or garbage text,
  the rest of the wheel intact;
- index.json and project documents: one value replaced, added or removed anywhere in a good
  document (wrong types, huge numbers, path-like names), byte mutations, garbage, deep nesting;
- MLproject: a good file with YAML oddities spliced in, random structures, garbage;
- pylock.toml: a good lock with values replaced (TOML dates, inf, nan too), byte mutations,
  garbage.

Prints a markdown table; exits 1 if any reader let an untyped error out, and writes the first
input of each distinct failure (exception type and place) into --out for a regression test.

Run: .venv/bin/python bench/fuzz_readers.py [--count 10000] [--seed 0] [--out DIR]
"""

from __future__ import annotations

import argparse
import copy
import datetime
import json
import logging
import math
import random
import re
import shutil
import sys
import tempfile
import time
import tomllib
import traceback
import warnings
import zipfile
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import tomli_w
import yaml

from dioptra_plugins.bundle.build import build_bundle

# The good documents every mutation starts from are the fuzz tests' own (one definition).
# fuzzhelpers writes its wheels with the suite's one wheel writer (tests/wheelfactory.py).
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "fuzz"))
from fuzzhelpers import (
    GOOD_MLPROJECT,
    good_lock_bytes,
    good_project,
    good_root,
)

from dioptra_plugins.bundle.extract import unpack_wheel
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.entrypoints.mlproject import parse_mlproject
from dioptra_plugins.errors import DioptraPluginsError
from dioptra_plugins.index.documents import (
    ProjectDocument,
    RootDocument,
)
from dioptra_plugins.plugindir.pylock import lock_from_toml
from wheelfactory import record_hash

# --- byte and value mutations ------------------------------------------------------------------

INTERESTING_BYTES = [
    b"\x00",
    b"\xff",
    b"\xc3",
    b'"',
    b",",
    b"\n",
    b"\r",
    b"PK\x03\x04",
    b"PK\x01\x02",
    b"PK\x05\x06",
    b"\xff\xff\xff\xff",
    b"[" * 64,
    b"{",
    b"9" * 40,
]


def mutate_bytes(rng: random.Random, good: bytes) -> bytes:
    """``good`` after 1-4 random edits."""
    data = bytearray(good)
    for _ in range(rng.randint(1, 4)):
        kind = rng.choice(["flip", "flip", "byte", "insert", "token", "delete", "dup", "cut"])
        at = rng.randrange(len(data)) if data else 0
        if kind == "flip" and data:
            data[at] ^= 1 << rng.randrange(8)
        elif kind == "byte" and data:
            data[at] = rng.randrange(256)
        elif kind == "insert":
            data[at:at] = rng.randbytes(rng.randint(1, 16))
        elif kind == "token":
            data[at:at] = rng.choice(INTERESTING_BYTES)
        elif kind == "delete":
            del data[at : at + rng.randint(1, 32)]
        elif kind == "dup" and data:
            end = min(len(data), at + rng.randint(1, 64))
            data[end:end] = data[at:end]
        else:
            del data[at:]
    return bytes(data)


HOSTILE_VALUES: list[Any] = [
    None,
    True,
    False,
    0,
    -1,
    2**63,
    2**64,
    10**40,
    1.5,
    1e308,
    "",
    "../x",
    "../../etc/passwd.whl",
    "a" * 64,
    "A" * 64,
    "\x00",
    "1.0.0",
    "1.0-rc1",
    "demo-pkg",
    "Demo_Pkg",
    "demo_pkg-1.0.0-py3-none-any.whl",
    "x.whl",
    [],
    {},
    [1, "x"],
    {"a": 1},
]


def random_value(rng: random.Random, depth: int = 0) -> Any:
    roll = rng.random()
    if roll < 0.55 or depth > 2:
        return rng.choice(HOSTILE_VALUES)
    if roll < 0.7:
        return rng.randint(-(2**70), 2**70)
    if roll < 0.8:
        return "".join(chr(rng.randrange(0x20, 0x250)) for _ in range(rng.randint(0, 12)))
    if roll < 0.9:
        return [random_value(rng, depth + 1) for _ in range(rng.randint(0, 3))]
    return {f"k{n}": random_value(rng, depth + 1) for n in range(rng.randint(0, 3))}


def replace_value(rng: random.Random, good: Any, values: Callable[[random.Random], Any]) -> Any:
    """A deep copy of ``good`` with one value somewhere replaced, added or removed."""
    document = copy.deepcopy(good)
    node = document
    while isinstance(node, dict | list) and node and rng.random() < 0.7:
        key = rng.choice(list(node) if isinstance(node, dict) else range(len(node)))
        child = node[key]
        if not isinstance(child, dict | list) or not child:
            break
        node = child
    if isinstance(node, dict) and node:
        key = rng.choice(list(node))
        action = rng.random()
        if action < 0.2:
            del node[key]
        elif action < 0.3:
            node[rng.choice(["x", "format", "name", "files", "tool"])] = values(rng)
        else:
            node[key] = values(rng)
    elif isinstance(node, list) and node:
        node[rng.randrange(len(node))] = values(rng)
    return document


def garbage(rng: random.Random) -> bytes:
    roll = rng.random()
    if roll < 0.3:
        return rng.randbytes(rng.randint(0, 200))
    if roll < 0.5:
        depth = rng.choice([10, 1000, 100_000])
        return rng.choice([b"[", b"{", b'{"a":']) * depth
    if roll < 0.7:
        return json.dumps(random_value(rng)).encode()
    return bytes(rng.choice(b'{}[]":,0123456789.eE-+tfnul \n\\') for _ in range(60))


# --- good inputs -------------------------------------------------------------------------------

NAME = "demo_pkg"
COMPRESSIONS = (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED, zipfile.ZIP_BZIP2, zipfile.ZIP_LZMA)
DIST_INFO = f"{NAME}-1.0.dist-info"


def small_wheel_files() -> dict[str, bytes]:
    return {
        f"{NAME}/__init__.py": b"",
        f"{NAME}/tasks.py": (
            b"from dioptra_plugins import pyplugs\n\n\n@pyplugs.register\n"
            b'def double(x: int) -> int:\n    """Double x."""\n    return 2 * x\n'
        ),
        f"{DIST_INFO}/WHEEL": (
            b"Wheel-Version: 1.0\nGenerator: bench\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
        ),
        f"{DIST_INFO}/METADATA": (
            b"Metadata-Version: 2.1\nName: demo_pkg\nVersion: 1.0\nRequires-Python: >=3.11\n"
            b"Requires-Dist: numpy>=1\n"
        ),
    }


def good_record(files: dict[str, bytes]) -> bytes:
    rows = [f"{name},{record_hash(data)},{len(data)}" for name, data in files.items()]
    return ("\n".join([*rows, f"{DIST_INFO}/RECORD,,"]) + "\n").encode()


def write_small_wheel(
    path: Path,
    files: dict[str, bytes],
    record: bytes | None = None,
    compression: int = zipfile.ZIP_DEFLATED,
) -> None:
    with zipfile.ZipFile(path, "w", compression=compression) as archive:
        for name, data in files.items():
            archive.writestr(zipfile.ZipInfo(name, (2020, 2, 2, 0, 0, 0)), data)
        record_bytes = good_record(files) if record is None else record
        archive.writestr(
            zipfile.ZipInfo(f"{DIST_INFO}/RECORD", (2020, 2, 2, 0, 0, 0)), record_bytes
        )


def built_wheel(workdir: Path) -> Path:
    package = workdir / "src" / "alpha"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text('VERSION = "1.0.0"\n')
    for number in range(3):
        (package / f"mod{number}.py").write_text(
            "from dioptra_plugins.pyplugs import register\n\n\n@register\n"
            f'def task{number}(x: int) -> str:\n    """Task {number}."""\n'
            f'    return "alpha-{number}-" + str(x)\n'
        )
    return build_bundle(package, workdir / "wheels", version="1.0.0")


GOOD_PROJECT = good_project()
GOOD_ROOT = good_root()
GOOD_LOCK = good_lock_bytes()
YAML_ODDITIES = [
    "2001-13-45",
    "2001-02-30",
    "2001-12-14t21:59:43.10-99:99",
    "!!timestamp x",
    "!!int zz",
    "!!float zz",
    "!!binary ###",
    "!!python/object:os.system x",
    "!!set {a, b}",
    "!!omap [a]",
    "9" * 5000,
    "0x" + "f" * 40,
    "1:2:3",
    "~",
    "yes",
    ".nan",
    "*alias",
    "&a [*a, *a]",
    "{a: 1, a: 2}",
    "[" * 300,
    "? [a, b]\n: c",
    "'unterminated",
    "\t",
    "\x00",
    "<<: 1",
    "- - -",
    "{type: float, default: [1]}",
    "{type: bool}",
    "{type: path, default: yes}",
    "{command: ''}",
]
TOML_VALUES: list[Any] = [
    math.inf,
    -math.inf,
    math.nan,
    datetime.date(2020, 1, 1),
    datetime.time(1, 2, 3),
    datetime.datetime(2020, 1, 1, 1, 2, 3),
    [],
    {},
    [[]],
    True,
    2**63,
    -(2**63),
    "../x",
    "a" * 64,
]


def toml_value(rng: random.Random) -> Any:
    return rng.choice(TOML_VALUES) if rng.random() < 0.4 else random_value(rng)


# --- the readers -------------------------------------------------------------------------------


def _unread(problems: str) -> str:
    return re.sub(r"cannot be read: [^\n]*", "cannot be read", problems)


@dataclass
class Tally:
    reader: str
    inputs: int = 0
    accepted: int = 0
    typed: Counter[str] = field(default_factory=Counter)
    untyped: Counter[str] = field(default_factory=Counter)
    seconds: float = 0.0


class Fuzzer:
    def __init__(self, workdir: Path, out: Path, rng: random.Random) -> None:
        self.workdir = workdir
        self.out = out
        self.rng = rng
        self.built = built_wheel(workdir / "built")
        self.built_bytes = self.built.read_bytes()
        self.small_files = small_wheel_files()
        self.compressed: dict[int, bytes] = {}
        for method in COMPRESSIONS:
            path = workdir / f"small-{method}.whl"
            write_small_wheel(path, self.small_files, compression=method)
            self.compressed[method] = path.read_bytes()

    # Each case makes one input (saved on failure) and runs it through the reader.

    def wheel_path(self, name: str) -> Path:
        return self.workdir / name

    def check_wheel(self, path: Path) -> None:
        """Verify, then unpack from memory in one pass: both must give the same verdict."""
        dest = self.workdir / "extracted"
        shutil.rmtree(dest, ignore_errors=True)
        try:
            verify_wheel(path)
        except DioptraPluginsError as verifying:
            try:
                unpack_wheel(path, dest, content=path.read_bytes())
            except DioptraPluginsError as unpacking:
                if dest.exists():
                    raise AssertionError("a refused unpack left its directory behind") from None
                # How a damaged entry fails to read may differ between a file and bytes.
                if _unread(str(unpacking)) != _unread(str(verifying)):
                    raise AssertionError("unpacking and verifying disagree") from unpacking
                raise verifying from None
            raise AssertionError("unpacking accepted what verifying refused") from verifying
        unpack_wheel(path, dest, content=path.read_bytes())

    def wheel(self) -> bytes:
        data = mutate_bytes(self.rng, self.built_bytes)
        path = self.wheel_path(self.built.name)
        path.write_bytes(data)
        self.check_wheel(path)
        return data

    def compressed_wheel(self) -> bytes:
        data = mutate_bytes(self.rng, self.compressed[self.rng.choice(COMPRESSIONS)])
        path = self.wheel_path(f"{NAME}-1.0-py3-none-any.whl")
        path.write_bytes(data)
        self.check_wheel(path)
        return data

    def record(self) -> bytes:
        good = good_record(self.small_files)
        roll = self.rng.random()
        if roll < 0.7:
            record = mutate_bytes(self.rng, good)
        elif roll < 0.85:
            lines = good.split(b"\n")
            at = self.rng.randrange(len(lines))
            lines[at] = self.rng.choice(
                [b'a,"b', b"a,b", b"a,b,c,d", b"", b"a,sha256=,-1", b"x,md5=abc,1", b"\xff,,"]
            )
            record = b"\n".join(lines)
        else:
            record = garbage(self.rng)
        path = self.wheel_path(f"{NAME}-1.0-py3-none-any.whl")
        write_small_wheel(path, self.small_files, record)
        self.check_wheel(path)
        return path.read_bytes()

    def dist_info_file(self) -> bytes:
        files = dict(self.small_files)
        name = f"{DIST_INFO}/{self.rng.choice(['WHEEL', 'METADATA'])}"
        files[name] = (
            mutate_bytes(self.rng, files[name]) if self.rng.random() < 0.85 else garbage(self.rng)
        )
        path = self.wheel_path(f"{NAME}-1.0-py3-none-any.whl")
        write_small_wheel(path, files)
        self.check_wheel(path)
        return path.read_bytes()

    def document_bytes(self, good: bytes) -> bytes:
        roll = self.rng.random()
        if roll < 0.55:
            return json.dumps(replace_value(self.rng, json.loads(good), random_value)).encode()
        if roll < 0.9:
            return mutate_bytes(self.rng, good)
        return garbage(self.rng)

    def root(self) -> bytes:
        data = self.document_bytes(GOOD_ROOT.to_bytes())
        root = RootDocument.from_bytes(data)
        assert RootDocument.from_bytes(root.to_bytes()) == root
        return data

    def project(self) -> bytes:
        data = self.document_bytes(GOOD_PROJECT.to_bytes())
        document = ProjectDocument.from_bytes(data)
        document.latest()
        assert ProjectDocument.from_bytes(document.to_bytes()) == document
        return data

    def mlproject(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.6:
            lines = GOOD_MLPROJECT.splitlines()
            for _ in range(self.rng.randint(1, 3)):
                at = self.rng.randrange(len(lines))
                cut = self.rng.randint(0, len(lines[at]))
                lines[at] = lines[at][:cut] + self.rng.choice(YAML_ODDITIES) + lines[at][cut:]
            text = "\n".join(lines) + "\n"
        elif roll < 0.8:
            structure = replace_value(
                self.rng, yaml.safe_load(GOOD_MLPROJECT), lambda r: r.choice(HOSTILE_VALUES)
            )
            text = yaml.safe_dump(structure)
        elif roll < 0.9:
            text = mutate_bytes(self.rng, GOOD_MLPROJECT.encode()).decode("utf-8", "replace")
        else:
            text = garbage(self.rng).decode("utf-8", "replace")
        parse_mlproject(text, Path("MLproject"))
        return text.encode()

    def lock(self) -> bytes:
        roll = self.rng.random()
        if roll < 0.55:
            document = replace_value(self.rng, tomllib.loads(GOOD_LOCK.decode()), toml_value)
            try:
                data = tomli_w.dumps(document).encode()
            except (TypeError, ValueError):  # not representable in TOML: try a byte mutation
                data = mutate_bytes(self.rng, GOOD_LOCK)
        elif roll < 0.9:
            data = mutate_bytes(self.rng, GOOD_LOCK)
        else:
            data = garbage(self.rng)
        lock_from_toml(data)
        return data

    # --- running ---

    def run(self, reader: str, case: Callable[[], bytes], count: int) -> Tally:
        tally = Tally(reader)
        started = time.perf_counter()
        for _ in range(count):
            tally.inputs += 1
            state = self.rng.getstate()
            try:
                case()
            except DioptraPluginsError as error:
                tally.typed[type(error).__name__] += 1
            except Exception as error:
                self.record_failure(tally, case, state, error)
            else:
                tally.accepted += 1
        tally.seconds = time.perf_counter() - started
        return tally

    def record_failure(
        self, tally: Tally, case: Callable[[], bytes], state: Any, error: Exception
    ) -> None:
        frame = traceback.extract_tb(error.__traceback__)[-1]
        where = f"{type(error).__name__} at {Path(frame.filename).name}:{frame.lineno}"
        tally.untyped[where] += 1
        if tally.untyped[where] > 1:
            return
        # Replay the case from the same random state to capture its input.
        saved = self.rng.getstate()
        self.rng.setstate(state)
        try:
            data = case()
        except Exception:
            data = None
        self.rng.setstate(saved)
        slug = f"{tally.reader.split()[0]}-{len(tally.untyped)}"
        description = "".join(traceback.format_exception(error))
        (self.out / f"{slug}.txt").write_text(description)
        if data is not None:
            (self.out / f"{slug}.bin").write_bytes(data)
        print(
            f"untyped error in {tally.reader}: {where} (see {self.out / slug}.*)", file=sys.stderr
        )


def table(tallies: list[Tally]) -> str:
    lines = [
        "| reader | inputs | accepted | typed error | untyped error | typed errors seen | s |",
        "|---|---|---|---|---|---|---|",
    ]
    for t in tallies:
        typed = sum(t.typed.values())
        seen = ", ".join(f"{name} {n:,}" for name, n in t.typed.most_common())
        untyped = sum(t.untyped.values())
        failures = f"**{untyped:,}**: " + "; ".join(t.untyped) if untyped else "0"
        lines.append(
            f"| {t.reader} | {t.inputs:,} | {t.accepted:,} | {typed:,} | {failures} | "
            f"{seen or '-'} | {t.seconds:.1f} |"
        )
    return "\n".join(lines)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--count", type=int, default=10_000, help="inputs per reader")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path, help="where failing inputs are written")
    args = parser.parse_args()

    # As in the test suite (filterwarnings = error), a warning from a reader is a failure; the
    # MLproject reader's warnings about unknown keys are log records, silenced here.
    warnings.simplefilter("error")
    logging.disable(logging.WARNING)
    out = args.out or Path(tempfile.mkdtemp(prefix="fuzz-failures-"))
    out.mkdir(parents=True, exist_ok=True)
    rng = random.Random(args.seed)
    with tempfile.TemporaryDirectory(prefix="fuzz-readers-") as scratch:
        fuzzer = Fuzzer(Path(scratch), out, rng)
        readers: list[tuple[str, Callable[[], bytes]]] = [
            ("wheel (hatchling-built bundle, mutated bytes; verify + extract)", fuzzer.wheel),
            (
                "wheel (stored, deflate, bzip2, lzma entries, mutated bytes; verify + extract)",
                fuzzer.compressed_wheel,
            ),
            ("RECORD (mutated rows, garbage)", fuzzer.record),
            ("WHEEL / METADATA (mutated, garbage)", fuzzer.dist_info_file),
            ("index.json (replaced values, mutated bytes, garbage)", fuzzer.root),
            ("project document (replaced values, mutated bytes, garbage)", fuzzer.project),
            ("MLproject (YAML oddities, structures, garbage)", fuzzer.mlproject),
            ("pylock.toml (replaced values, mutated bytes, garbage)", fuzzer.lock),
        ]
        tallies = []
        for reader, case in readers:
            tallies.append(fuzzer.run(reader, case, args.count))
            print(f"{reader}: done in {tallies[-1].seconds:.1f} s", file=sys.stderr)
    print(
        f"\nseed {args.seed}, {args.count:,} inputs per reader, Python {sys.version.split()[0]}\n"
    )
    print(table(tallies))
    failed = sum(sum(t.untyped.values()) for t in tallies)
    if failed:
        print(f"\n{failed} untyped errors; inputs in {out}", file=sys.stderr)
        return 1
    if args.out is None:
        shutil.rmtree(out, ignore_errors=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
