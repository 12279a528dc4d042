"""A bundle named like a standard library module is refused at build and at publish (issue 21).

A plugin dir stands before the standard library on ``sys.path``: a bundle ``colorsys`` would
replace ``import colorsys`` in every process that uses the plugin dir.  The check is part of
bundle verification, so ``build`` refuses what it built and ``publish`` refuses a wheel crafted
by hand (here with ``wheelfactory``), before anything reaches the index.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.errors import BuildError, BundleError
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish
from wheelfactory import WheelSpec

TASK = (
    "from dioptra_plugins import pyplugs\n\n\n@pyplugs.register\n"
    'def hsv(x: int) -> int:\n    """Not the standard library\'s."""\n    return x\n'
)


def cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "dioptra_plugins", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        check=False,
    )


def stdlib_package(parent: Path, name: str = "colorsys") -> Path:
    package = parent / name
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "tasks.py").write_text(TASK)
    return package


def stdlib_wheel(directory: Path, top: str = "colorsys", project: str = "colorsys") -> Path:
    files = {f"{top}/__init__.py": b"", f"{top}/tasks.py": TASK.encode()}
    if "/" in top:  # a namespace portion: no __init__.py in the namespace itself
        files = {f"{top}/tasks.py": TASK.encode()}
    return WheelSpec(name=project, files=files).write(directory)


def test_build_refuses_a_standard_library_name(tmp_path: Path) -> None:
    source = stdlib_package(tmp_path / "src")
    with pytest.raises(BuildError) as refused:
        build_bundle(source, tmp_path / "dist", version="1.0")
    message = str(refused.value)
    assert "'colorsys' is the name of a standard library module" in message
    assert "replace `import colorsys`" in message
    assert not list(tmp_path.rglob("*.whl"))


def test_build_command_refuses_it_in_one_message(tmp_path: Path) -> None:
    stdlib_package(tmp_path, "secrets")
    built = cli("build", "secrets", "--version", "1.0", "-o", "dist", cwd=tmp_path)
    assert built.returncode == 1, built.stderr
    assert "'secrets' is the name of a standard library module" in built.stderr
    assert "Traceback" not in built.stderr


@pytest.mark.parametrize(
    ("top", "project"),
    [("colorsys", "colorsys"), ("json", "json_tasks"), ("email/myplugins", "email_myplugins")],
)
def test_verification_refuses_a_standard_library_top_level(
    tmp_path: Path, top: str, project: str
) -> None:
    wheel = stdlib_wheel(tmp_path, top, project)
    with pytest.raises(BundleError) as refused:
        verify_wheel(wheel)
    first = top.partition("/")[0]
    expected = f"{first!r} is the name of a standard library module"
    assert any(expected in problem for problem in refused.value.problems)


def test_a_name_merely_like_the_standard_library_is_fine(tmp_path: Path) -> None:
    for top in ("colorsys_tasks", "my_json"):
        assert verify_wheel(stdlib_wheel(tmp_path, top, f"{top}_bundle")).top_level == top


def test_publish_refuses_a_crafted_wheel_and_writes_nothing(tmp_path: Path) -> None:
    index = tmp_path / "index"
    wheel = stdlib_wheel(tmp_path)
    with pytest.raises(BundleError) as refused:
        publish(open_storage(str(index)), [wheel])
    assert "'colorsys' is the name of a standard library module" in str(refused.value)
    assert not index.exists() or not any(index.rglob("*.whl"))

    shown = cli("publish", str(wheel), "--index", str(index), "--json", cwd=tmp_path)
    assert shown.returncode == 1, shown.stderr
    assert "Traceback" not in shown.stderr, shown.stderr
    document = json.loads(shown.stdout)
    assert document["kind"] == "BundleError"
    assert "standard library module" in document["error"]
    assert not index.exists() or not any(index.rglob("*.whl"))
