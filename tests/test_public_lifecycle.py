"""A whole life cycle through ``import dioptra_plugins`` alone (issue 22): build, index init,
publish, sync, verify, tasks, list, sync again, rollback, gc, check, yank; and the public
names are documented functions (or classes) the package lists, none shadowed by a submodule.

No submodule of ``dioptra_plugins`` is imported here: what a Python caller needs is public.
"""

from __future__ import annotations

import inspect
import os
import subprocess
import sys
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

import dioptra_plugins

TOP = "lifecycle_demo"


def _package(parent: Path, version: str) -> Path:
    """A bare plugin package folder whose task says which version it is."""
    package = parent / f"src-{version}" / TOP
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'VERSION = "{version}"\n')
    (package / "shapes.py").write_text(
        "from dioptra_plugins.pyplugs import register\n\n\n"
        "@register\n"
        "def resize(n: int, factor: float = 2.0) -> float:\n"
        f'    """Resize n ({version})."""\n'
        "    return n * factor\n"
    )
    return package


@pytest.fixture
def forget_demo() -> Iterator[None]:
    """``tasks`` imports the plugins: drop them from ``sys.modules`` afterwards."""
    yield
    for name in [m for m in sys.modules if m == TOP or m.startswith(TOP + ".")]:
        del sys.modules[name]


def test_life_cycle_through_the_public_api(tmp_path: Path, forget_demo: None) -> None:
    index = tmp_path / "index"
    plugin_dir = tmp_path / "plugins"
    out = tmp_path / "dist"

    # build: two versions of a bare package folder (not a git work tree).
    (v1,) = dioptra_plugins.build(_package(tmp_path, "1.0.0"), out_dir=out, version="1.0.0")
    (v2,) = dioptra_plugins.build(_package(tmp_path, "2.0.0"), out_dir=out, version="2.0.0")
    assert v1.name == "lifecycle_demo-1.0.0-py3-none-any.whl"
    assert v1.is_file()
    assert v2.name == "lifecycle_demo-2.0.0-py3-none-any.whl"
    assert v2.is_file()

    # index init, publish, check.
    dioptra_plugins.init_index(str(index))
    published = dioptra_plugins.publish(v1, index=str(index))
    assert published.swapped
    assert len(published.files) == 1
    report = dioptra_plugins.check_index(index=str(index))
    assert report.ok
    assert report.files == 1
    assert report.projects == 1

    # sync the first version, verify it, list its tasks and packages.
    first = dioptra_plugins.sync(["lifecycle-demo"], index=str(index), plugin_dir=plugin_dir)
    assert first.installed == {"lifecycle-demo": "1.0.0"}
    assert first.switched
    verified = dioptra_plugins.verify(plugin_dir)
    assert verified.ok
    assert verified.generation == first.generation
    found = dioptra_plugins.tasks(plugin_dir=plugin_dir)
    assert [(t["module"], t["function"]) for t in found] == [(f"{TOP}.shapes", "resize")]
    assert found[0]["signature"] == "(n: int, factor: float = 2.0) -> float"
    assert found[0]["description"] == "Resize n (1.0.0)."
    listed = dioptra_plugins.list_plugins(plugin_dir)
    assert listed["generation"] == first.generation
    assert [(p["name"], p["version"]) for p in listed["packages"]] == [("lifecycle-demo", "1.0.0")]
    assert [t["function"] for t in listed["packages"][0]["tasks"]] == ["resize"]

    # publish and sync the second version: a new generation.
    dioptra_plugins.publish([v2], index=str(index))
    second = dioptra_plugins.sync(["lifecycle-demo"], index=str(index), plugin_dir=plugin_dir)
    assert second.upgraded == {"lifecycle-demo": ("1.0.0", "2.0.0")}
    assert second.generation != first.generation
    assert (plugin_dir / TOP / "__init__.py").read_text() == 'VERSION = "2.0.0"\n'

    # rollback to the first generation (the default target: the newest older one).
    back = dioptra_plugins.rollback(plugin_dir)
    assert back == {
        "plugin_dir": str(plugin_dir),
        "from": second.generation,
        "to": first.generation,
    }
    assert (plugin_dir / TOP / "__init__.py").read_text() == 'VERSION = "1.0.0"\n'
    assert dioptra_plugins.list_plugins(plugin_dir)["generation"] == first.generation

    # gc: the dry run deletes nothing and says what the real one then deletes.
    generations = dioptra_plugins.list_plugins(plugin_dir)["generations"]
    preview = dioptra_plugins.gc(plugin_dir, keep=0, dry_run=True)
    assert preview.dry_run
    assert dioptra_plugins.list_plugins(plugin_dir)["generations"] == generations
    done = dioptra_plugins.gc(plugin_dir, keep=0)
    assert not done.dry_run
    assert first.generation in done.kept
    assert done.removed_generations == preview.removed_generations
    left = dioptra_plugins.list_plugins(plugin_dir)["generations"]
    assert left == [g for g in generations if g not in done.removed_generations]
    assert dioptra_plugins.verify(plugin_dir).ok
    assert (plugin_dir / TOP / "__init__.py").read_text() == 'VERSION = "1.0.0"\n'

    # yank and unyank the second version: the index stays whole.
    dioptra_plugins.yank("lifecycle-demo", "2.0.0", index=str(index), reason="demo")
    dioptra_plugins.unyank("lifecycle-demo", "2.0.0", index=str(index))
    assert dioptra_plugins.check_index(index=str(index)).ok


def test_the_arguments_are_checked_and_errors_name_parameters(
    tmp_path: Path, forget_demo: None
) -> None:
    """Hostile arguments are refused by the library, naming the Python parameter (no flag)."""
    error = dioptra_plugins.DioptraPluginsError
    cases: list[tuple[Callable[[], object], str]] = [
        (lambda: dioptra_plugins.gc(tmp_path, keep=-1), "keep"),
        (lambda: dioptra_plugins.gc(tmp_path, keep=True), "keep"),
        (lambda: dioptra_plugins.gc(tmp_path, lock_timeout=float("nan")), "lock_timeout"),
        (lambda: dioptra_plugins.rollback(tmp_path, to="../000001"), "to"),
        (lambda: dioptra_plugins.rollback(tmp_path, to=-1), "to"),
        (lambda: dioptra_plugins.check_index(index=str(tmp_path), max_workers=0), "max_workers"),
        (
            lambda: dioptra_plugins.build(tmp_path, out_dir=tmp_path, requires="numpy"),
            "requires",
        ),
        (lambda: dioptra_plugins.build("", out_dir=tmp_path), "source"),
        (lambda: dioptra_plugins.tasks(plugin_dir=[]), "plugin_dir"),
    ]
    for call, parameter in cases:
        with pytest.raises(error) as caught:
            call()
        assert getattr(caught.value, "parameters", None) == [parameter], caught.value
        assert f"`{parameter}`" in str(caught.value)
        assert "--" not in str(caught.value)  # a Python caller is not told about flags


def test_tasks_raises_an_import_failure_unless_errors_collects_it(
    tmp_path: Path, forget_demo: None
) -> None:
    plugins = tmp_path / "plain"
    package = plugins / TOP
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "good.py").write_text(
        "from dioptra_plugins.pyplugs import register\n\n\n"
        "@register\ndef fine() -> int:\n    return 1\n"
    )
    (package / "broken.py").write_text("raise RuntimeError('broken at import')\n")
    with pytest.raises(dioptra_plugins.DioptraPluginsError) as caught:
        dioptra_plugins.tasks(plugin_dir=plugins)
    assert isinstance(caught.value, ImportError)
    assert caught.value.name == f"{TOP}.broken"
    for name in [m for m in sys.modules if m == TOP or m.startswith(TOP + ".")]:
        del sys.modules[name]
    errors: list[Any] = []  # PluginImportError, which this module does not import
    found = dioptra_plugins.tasks(plugin_dir=plugins, errors=errors)
    assert [t["function"] for t in found] == ["fine"]
    assert [getattr(e, "module", None) for e in errors] == [f"{TOP}.broken"]


def test_every_public_name_is_documented_and_listed() -> None:
    for name in dioptra_plugins.__all__:
        value = getattr(dioptra_plugins, name)
        assert (
            inspect.isfunction(value)
            or inspect.isclass(value)
            or (
                name == "pyplugs" and inspect.ismodule(value)  # the pyplugs-compatible face
            )
        ), name
        assert inspect.getdoc(value), f"{name} has no docstring"
        if inspect.isfunction(value):
            assert value.__module__.startswith("dioptra_plugins."), name
    # In a fresh interpreter (no submodule imported yet): dir() lists every name, each is
    # the documented object and not a submodule, and nothing heavy came with the import.
    code = (
        "import dioptra_plugins, inspect, sys;"
        "listed = dir(dioptra_plugins);"
        "missing = [n for n in dioptra_plugins.__all__ if n not in listed];"
        "assert not missing, missing;"
        "mods = [n for n in dioptra_plugins.__all__ if n != 'pyplugs'"
        " and inspect.ismodule(getattr(dioptra_plugins, n))];"
        "assert not mods, mods;"
        "print(len(dioptra_plugins.__all__))"
    )
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, env=env, check=False
    )
    assert done.returncode == 0, done.stderr
    assert int(done.stdout) == len(dioptra_plugins.__all__)
    # The operations issue 22 names are all there.
    assert set(dioptra_plugins.__all__) >= {
        "build", "publish", "yank", "unyank", "init_index", "check_index", "repair",
        "refresh", "sync", "verify", "gc", "rollback", "list_plugins", "tasks",
    }  # fmt: skip


def test_no_submodule_shares_a_name_with_a_public_function() -> None:
    """A ``dioptra_plugins/<name>.py`` (or package) would replace the function once imported."""
    root = Path(inspect.getfile(dioptra_plugins)).parent
    children = {p.stem for p in root.glob("*.py")} | {
        p.name for p in root.iterdir() if p.is_dir() and (p / "__init__.py").is_file()
    }
    assert children & set(dioptra_plugins.__all__) == {"pyplugs"}


def test_the_command_line_names_its_flags_for_the_parameters(tmp_path: Path) -> None:
    """The library blames ``to`` and ``plugin_dir``; the command line shows its options."""
    cli = str(Path(sys.executable).parent / "dioptra-plugins")
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIOPTRA_PLUGIN")}
    bad_to = subprocess.run(
        [cli, "rollback", "--plugin-dir", str(tmp_path), "--to", "abc"],
        capture_output=True, text=True, env=env, check=False,
    )  # fmt: skip
    assert bad_to.returncode == 2, bad_to.stderr
    assert "--to is a generation number" in bad_to.stderr
    no_dir = subprocess.run(
        [cli, "tasks"], capture_output=True, text=True, env=env, check=False, cwd=tmp_path
    )
    assert no_dir.returncode == 2, no_dir.stderr
    assert "pass --plugin-dir (existing, absolute)" in no_dir.stderr


def test_getting_the_functions_imports_nothing_heavy() -> None:
    """Each function imports its stage's modules when called, not when named."""
    code = (
        "import sys, dioptra_plugins;"
        "from dioptra_plugins import build, check_index, verify, gc, rollback, list_plugins,"
        " tasks;"
        "heavy = ('hatchling', 'tuf', 'boto3', 'click', 'dioptra_plugins.bundle.build',"
        " 'dioptra_plugins.plugindir.gc', 'dioptra_plugins.registry.registry');"
        "print(','.join(m for m in heavy if m in sys.modules))"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == ""
