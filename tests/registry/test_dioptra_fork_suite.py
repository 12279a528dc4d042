"""Dioptra's fork suite (``tests/vendor/dioptra_pyplugs``, Dioptra eace82e0) run as Dioptra ran
it, under Prefect 1 and under Prefect 3, and the registry bugs it found.

Where the suite sits decides what it tests.  Its ``pyplugs_no_prefect`` fixture deletes every
module whose name contains "dioptra" and imports pyplugs afresh.  In Dioptra's repository the
plugin package is ``tests.unit.pyplugs.plugin_directory``: the plugin modules survive the purge,
marked by the old copy of pyplugs, and the fresh copy must still see them.  Vendored under
``tests/vendor/dioptra_pyplugs`` they are purged too, which hid that case.  So the suite runs
here in both places, each in a fresh tree under ``tmp_path`` and a fresh interpreter.

Under Prefect 3 four tests cannot run: their bodies are Prefect 1's own API (``with
Flow("name")``, ``flow.run()``, ``Task.is_equal``), and Prefect 3's ``Flow`` takes a function,
so they fail (or, for the one expecting a ``TypeError``, pass for the wrong reason) before any
of our code runs.  They are deselected by name and counted, so nothing else can drop out
quietly; under Prefect 1 all 31 run.
"""

from __future__ import annotations

import importlib
import os
import shutil
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
from registry_helpers import PluginArea

from dioptra_plugins import pyplugs
from dioptra_plugins.errors import (
    PrefectDependencyError,
    UnknownPluginError,
    UnknownPluginFunctionError,
)
from dioptra_plugins.registry.lookup import did_you_mean
from dioptra_plugins.registry.registry import Registry

ROOT = Path(__file__).resolve().parents[2]
VENDORED = ROOT / "tests" / "vendor" / "dioptra_pyplugs"
PREFECT1_PYTHON = ROOT / ".venv-prefect1" / "bin" / "python"
DIOPTRA_TESTS = 31
# The tests whose body is Prefect 1's flow-building API, which Prefect 3 does not have.
PREFECT1_API_TESTS = (
    "test_get_task_factory",
    "test_call_task_factory",
    "test_call_tasks_with_nout",
    "test_call_tasks_without_nout",
)
LAYOUTS = {
    "dioptra": "tests/unit/pyplugs",  # where eace82e0 has it: no "dioptra" in the package name
    "vendored": "tests/vendor/dioptra_pyplugs",  # where this repository keeps it
}


def copy_suite(tree: Path, where: str) -> None:
    """The vendored suite (with its conftest and stand-in) at ``where`` inside ``tree``."""
    target = tree / where
    shutil.copytree(VENDORED, target, ignore=shutil.ignore_patterns("__pycache__"))
    for parent in Path(where).parents:
        if parent != Path("."):
            init = tree / parent / "__init__.py"
            if not init.exists():
                init.write_text("")


def run_suite(python: Path, tree: Path, where: str, deselect: tuple[str, ...]) -> ET.Element:
    """Run the suite with ``python`` from ``tree`` as Dioptra ran pytest: from the repository
    root, that root importable (``python -m`` puts the working directory first)."""
    report = tree / "report.xml"
    unset = ("PYTHONDONTWRITEBYTECODE", "PYTHONPATH")
    env = {k: v for k, v in os.environ.items() if k not in unset}
    args = [f"--deselect={where}/test_plugins.py::{name}" for name in deselect]
    result = subprocess.run(
        [
            str(python),
            "-m",
            "pytest",
            "-q",
            "-p",
            "no:cacheprovider",
            f"--rootdir={tree}",
            f"--junitxml={report}",
            *args,
            where,
        ],
        cwd=tree,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stdout[-6000:] + result.stderr[-3000:]
    suite = ET.parse(report).getroot().find("testsuite")
    assert suite is not None
    return suite


def prefect_major(python: Path) -> int:
    version = subprocess.run(
        [str(python), "-c", "import prefect; print(prefect.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    return int(version.partition(".")[0])


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_fork_suite_passes_in_full_under_prefect1(tmp_path: Path, layout: str) -> None:
    if not PREFECT1_PYTHON.exists():
        pytest.fail(f"{PREFECT1_PYTHON} is missing: run `make prefect1-venv` (`make test` does)")
    assert prefect_major(PREFECT1_PYTHON) == 1
    copy_suite(tmp_path, LAYOUTS[layout])
    suite = run_suite(PREFECT1_PYTHON, tmp_path, LAYOUTS[layout], ())
    assert suite.get("tests") == str(DIOPTRA_TESTS)
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "0")


@pytest.mark.parametrize("layout", sorted(LAYOUTS))
def test_the_fork_suite_passes_under_prefect3(tmp_path: Path, layout: str) -> None:
    python = Path(sys.executable)
    assert prefect_major(python) == 3
    copy_suite(tmp_path, LAYOUTS[layout])
    suite = run_suite(python, tmp_path, LAYOUTS[layout], PREFECT1_API_TESTS)
    ran = {case.get("name", "") for case in suite.iter("testcase")}
    assert len(ran) == DIOPTRA_TESTS - len(PREFECT1_API_TESTS), sorted(ran)
    assert "test_prefect_dependency_not_installed[call_task]" in ran
    assert not ran & set(PREFECT1_API_TESTS)
    assert (suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("0", "0", "0")


# --- the bugs, in-process -------------------------------------------------------------------------

PLAIN = '''
"""A plain plugin module."""
from dioptra_plugins import pyplugs


@pyplugs.register(sort_value=2)
def first():
    return "first"


@pyplugs.register(label="metric")
def labelled():
    return "labelled"


@pyplugs.register
def second():
    return "second"
'''


def test_plugins_marked_by_another_copy_of_pyplugs_are_found(
    area: PluginArea, registry: Registry
) -> None:
    """Dioptra's fixture: pyplugs imported afresh while plugin modules stay loaded (and the
    reverse), each side's marks made by the other copy's class."""
    package = area.package({"plain.py": PLAIN, "other.py": PLAIN})
    importlib.import_module(f"{package}.other")  # marked by the original copy
    ours = [name for name in sys.modules if name.startswith("dioptra_plugins")]
    try:
        with pytest.MonkeyPatch.context() as patch:
            for name in ours:
                patch.delitem(sys.modules, name)
            fresh = importlib.import_module("dioptra_plugins.pyplugs")
            assert fresh is not pyplugs
            importlib.import_module(f"{package}.plain")  # marked by the fresh copy
            fresh_registry = fresh.Registry()
    finally:
        # The context puts the original modules back; drop any the fresh copy added.
        for name in [n for n in sys.modules if n.startswith("dioptra_plugins")]:
            if name not in ours:
                del sys.modules[name]
    # plain: imported under the fresh copy, looked up by the original registry.
    assert registry.call(package, "plain") == "first"  # the first registered without a label
    assert registry.funcs(package, "plain") == ["first", "second"]
    assert registry.funcs(package, "plain", label="metric") == ["labelled"]
    assert registry.info(package, "plain", "first").sort_value == 2
    assert registry.names(package) == ["other", "plain"]
    # other: imported by the original copy, looked up by the fresh copy's registry.
    assert fresh_registry.call(package, "other") == "first"


def test_call_task_without_prefect_is_a_prefect_error_before_any_lookup(
    area: PluginArea, registry: Registry, monkeypatch: pytest.MonkeyPatch
) -> None:
    package = area.package({"empty.py": "VALUE = 1\n"})
    monkeypatch.setitem(sys.modules, "prefect", None)
    for name in ("empty", "missing"):
        with pytest.raises(PrefectDependencyError):
            registry.call_task(package, name)
        with pytest.raises(PrefectDependencyError):
            registry.get_task(package, name)


def test_did_you_mean_never_suggests_the_name_it_could_not_find(
    area: PluginArea, registry: Registry
) -> None:
    package = area.package(
        {"plugin_plain.py": "VALUE = 1\n", "plugin_plane.py": PLAIN, "plugin_last.py": PLAIN}
    )
    with pytest.raises(UnknownPluginError) as no_plugins:
        registry.info(package, "plugin_plain")
    message = str(no_plugins.value)
    assert "'plugin_plain' inside" in message
    assert "did you mean 'plugin_plane'" in message
    suggested = message.partition("(did you mean")[2]
    assert "'plugin_plain'" not in suggested
    # A function that exists under another label: found, so not suggested to itself.
    with pytest.raises(UnknownPluginFunctionError) as labelled:
        registry.info(package, "plugin_plane", "labelled")
    assert "did you mean" not in str(labelled.value)
    with pytest.raises(UnknownPluginFunctionError) as wrong_label:
        registry.info(package, "plugin_plane", "first", label="metric")
    assert "'first'" not in str(wrong_label.value).partition("(did you mean")[2]


def test_did_you_mean_leaves_out_the_wanted_name() -> None:
    assert did_you_mean("resize", ["resize"]) == ""
    assert did_you_mean("resize", ["resize", "resizer"]) == " (did you mean 'resizer'?)"
    assert did_you_mean("resize", ["rotate"]) == ""
