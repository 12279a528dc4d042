"""Errors as facts (issue 22): attributes first, the message built from them, every error class
in ``dioptra_plugins.errors``, resolvelib's causes kept, and the ``--json`` error document's
``details`` carrying those facts for real failures of the command line."""

from __future__ import annotations

import ast
import json
import math
import os
import pickle
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from resolvelib.resolvers import ResolutionImpossible
from synchelpers import publish_wheels

from dioptra_plugins import errors, sync
from dioptra_plugins.errors import (
    DioptraPluginsError,
    LoadFailure,
    LockFileError,
    LockTimeoutError,
    ObjectNotFoundError,
    PluginImportError,
    ResolutionCause,
    ResolutionError,
    UnknownPluginFunctionError,
    UsageError,
    json_safe,
)
from dioptra_plugins.facts import kept
from dioptra_plugins.index.local import LocalStorage
from dioptra_plugins.plugindir.layout import PluginDirLayout
from dioptra_plugins.plugindir.writer_lock import writer_lock

CLI = str(Path(sys.executable).parent / "dioptra-plugins")
SRC = Path(errors.__file__).parent


def cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, check=False, timeout=120)


def error_document(done: subprocess.CompletedProcess[str]) -> dict[str, Any]:
    assert done.returncode == 1, (done.stdout, done.stderr)
    assert "Traceback" not in done.stderr
    document = json.loads(done.stdout)
    assert isinstance(document, dict)
    assert set(document) == {"error", "kind", "exit_code", "details"}
    assert document["exit_code"] == 1
    assert f"error: {document['error']}" in done.stderr  # the same words on stderr
    return document


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, wheels.values())
    return url


# --- the JSON error document of real failures ----------------------------------------------------


def test_a_missing_index_names_key_and_url(tmp_path: Path) -> None:
    url = str(tmp_path / "nowhere")
    document = error_document(cli("index", "list", "--index", url, "--json"))
    assert document["kind"] == "ObjectNotFoundError"
    assert document["details"] == {"key": "index.json", "url": url, "no_index": True}
    assert document["error"].startswith(f"no index at {url}: index.json does not exist")


def test_a_lock_timeout_names_holder_path_and_timeout(tmp_path: Path) -> None:
    layout = PluginDirLayout(tmp_path / "plugins")
    with writer_lock(layout.lock_file):
        done = cli(
            "sync",
            "alpha",
            "--index",
            str(tmp_path / "index"),
            "--plugin-dir",
            str(layout.root),
            "--lock-timeout",
            "0.2",
            "--json",
        )
    document = error_document(done)
    assert document["kind"] == "LockTimeoutError"
    assert document["details"] == {
        "path": str(layout.root),
        "timeout": 0.2,
        "holder": os.getpid(),
    }
    assert f"locked by process {os.getpid()}" in document["error"]


def test_an_unknown_plugin_function_names_what_was_asked_and_known(tmp_path: Path) -> None:
    package = tmp_path / "plugins" / "demo_tasks"
    package.mkdir(parents=True)
    (package / "__init__.py").write_text("")
    (package / "images.py").write_text(
        "from dioptra_plugins.pyplugs import register\n\n\n"
        "@register\ndef resize(n: int) -> int:\n    return n * 2\n\n\n"
        "@register\ndef crop(n: int) -> int:\n    return n\n"
    )
    done = cli(
        "call",
        "demo_tasks",
        "images",
        "resise",
        "--plugin-dir",
        str(tmp_path / "plugins"),
        "--json",
    )
    document = error_document(done)
    assert document["kind"] == "UnknownPluginFunctionError"
    assert document["details"] == {
        "package": "demo_tasks",
        "plugin": "images",
        "func": "resise",
        "label": None,
        "known": ["crop", "resize"],
        "suggestions": ["resize"],
    }
    assert document["error"] == (
        "Could not find any function named 'resise' inside 'demo_tasks.images'. "
        "Use pyplugs.register to register plug-in functions (did you mean 'resize'?)"
    )


def test_a_resolution_failure_keeps_the_resolvers_causes(index: str, tmp_path: Path) -> None:
    done = cli(
        "sync", "beta", "omega", "--index", index, "--plugin-dir", str(tmp_path / "p"), "--json"
    )
    document = error_document(done)
    assert document["kind"] == "ResolutionError"
    details = document["details"]
    assert sorted(details["causes"], key=json.dumps) == sorted(
        [
            {"project": "alpha", "specifier": "<2,>=1", "parent": "beta 1.0.0"},
            {"project": "alpha", "specifier": ">=2", "parent": "omega 1.0.0"},
        ],
        key=json.dumps,
    )
    assert details["available"] == {"alpha": ["1.0.0", "1.1.0", "2.0.0"]}
    assert details["missing"] == []
    assert details["rounds"] is None
    # The words did not change.
    assert "beta 1.0.0 wants alpha<2,>=1" in document["error"]
    assert "omega 1.0.0 wants alpha>=2" in document["error"]


def test_a_usage_error_names_its_parameter_and_flags(tmp_path: Path) -> None:
    done = cli("sync", "alpha", "--plugin-dir", str(tmp_path), "--jobs", "0", "--json")
    assert done.returncode == 2, done.stderr
    document = json.loads(done.stdout)
    assert document["kind"] == "UsageError"
    assert document["details"] == {"parameter": "jobs", "flags": ["--jobs"]}


# --- the exceptions themselves -------------------------------------------------------------------


def test_resolution_error_is_raised_from_resolvelibs(index: str, tmp_path: Path) -> None:
    with pytest.raises(ResolutionError) as caught:
        sync(["alpha>=3"], index=index, plugin_dir=tmp_path / "plugins")
    error = caught.value
    assert isinstance(error.__cause__, ResolutionImpossible)  # no longer `from None`
    assert error.causes == [ResolutionCause(project="alpha", specifier=">=3", parent=None)]
    assert error.available == {"alpha": ["1.0.0", "1.1.0", "2.0.0"]}
    assert "you want alpha>=3" in str(error)


def test_a_requirement_on_a_missing_project_is_a_fact(index: str, tmp_path: Path) -> None:
    with pytest.raises(ResolutionError) as caught:
        sync(["nosuch>=1", "alpha"], index=index, plugin_dir=tmp_path / "plugins")
    assert caught.value.missing == ["nosuch>=1"]
    assert "not in the index" in str(caught.value)


def test_each_storage_miss_keeps_key_and_url(tmp_path: Path) -> None:
    storage = LocalStorage(tmp_path / "index")
    for read in (storage.get, storage.open):
        with pytest.raises(ObjectNotFoundError) as caught:
            read("projects/nothing.json")
        assert (caught.value.key, caught.value.url) == ("projects/nothing.json", storage.url)
        assert str(caught.value) == f"projects/nothing.json does not exist in {storage.url}"
        assert not caught.value.no_index


def test_messages_are_built_from_the_attributes() -> None:
    lock = LockTimeoutError(path="/p", timeout=1.5, holder=None)
    assert str(lock) == "plugin dir /p is locked by another process; gave up after waiting 1.5 s"
    assert lock.details() == {"path": "/p", "timeout": 1.5, "holder": None}
    labelled = UnknownPluginFunctionError(
        package="", plugin="tasks", func=None, label="metric", known=["b", "a"]
    )
    assert str(labelled) == (
        "Could not find any function with label 'metric' inside 'tasks'. "
        "Use pyplugs.register to register plug-in functions"
    )
    assert labelled.known == ["a", "b"]
    assert labelled.suggestions == []
    # The name asked for, found under another label, is never its own suggestion.
    found_elsewhere = UnknownPluginFunctionError(
        package="p", plugin="m", func="resize", label="x", known=["resize"]
    )
    assert "did you mean" not in str(found_elsewhere)
    lock_file = LockFileError("/tmp/pylock.toml", "packages[0].name must be a string")
    assert str(lock_file) == (
        "/tmp/pylock.toml is not a dioptra-plugins lock: packages[0].name must be a string"
    )
    assert lock_file.details() == {
        "source": "/tmp/pylock.toml",
        "problem": "packages[0].name must be a string",
    }


def test_an_error_of_words_only_has_empty_details() -> None:
    assert DioptraPluginsError("just words").details() == {}
    error = DioptraPluginsError("x")
    error.add_note("a note is not a fact")
    assert error.details() == {}


def test_errors_with_facts_still_behave_as_exceptions() -> None:
    """Errors with facts are dataclasses of them: still compared and hashed by identity (a
    dataclass's eq would make them unhashable), printed as exceptions are, ``args`` the message."""
    lock = LockTimeoutError(path="/p", timeout=1, holder=3)
    words = "plugin dir /p is locked by process 3; gave up after waiting 1 s"
    assert repr(lock) == f"LockTimeoutError({words!r})"
    assert lock.args == (words,)
    twin = LockTimeoutError(path="/p", timeout=1, holder=3)
    assert lock != twin
    assert len({lock, twin}) == 2
    usage = UsageError(message="`jobs` must be positive", parameters=("jobs",))
    assert usage.args == ("`jobs` must be positive",)
    assert usage.parameters == ["jobs"]  # kept as a list, whatever sequence was passed
    assert usage.details() == {"parameters": ["jobs"]}


def test_facts_are_kept_as_plain_data() -> None:
    assert kept(x for x in "ab") == ["a", "b"]  # a generator is read once, when raised
    assert kept({"p": ("1.0", "2.0")}) == {"p": ["1.0", "2.0"]}
    assert kept(frozenset({"b", "a", "c"})) == ["a", "b", "c"]  # the same order every run
    assert kept("text") == "text"
    assert kept(Path("/x")) == Path("/x")


def test_json_safe_turns_every_fact_into_json() -> None:
    value = {
        "path": Path("/a/b"),
        "set": {"b", "a"},
        "tuple": (1, 2.5, None, True),
        "cause": ResolutionCause("alpha", ">=1", None),
        "error": ValueError("boom"),
        "nan": math.nan,
        "other": object,
        1: "key not a string",
    }
    safe = json_safe(value)
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe
    assert safe["path"] == "/a/b"
    assert safe["set"] == ["a", "b"]
    assert safe["cause"] == {"project": "alpha", "specifier": ">=1", "parent": None}
    assert safe["error"] == {"kind": "ValueError", "error": "boom"}
    assert safe["nan"] == "nan"
    assert safe["1"] == "key not a string"
    assert safe["other"] == "builtins.object"
    # A class with a to_dict method is named, not called without its instance.
    assert json_safe(ResolutionCause) == "dioptra_plugins.facts.ResolutionCause"


# --- one family module ---------------------------------------------------------------------------


def test_every_error_class_lives_in_the_errors_module() -> None:
    outside = []
    for path in sorted(SRC.rglob("*.py")):
        if path == Path(errors.__file__):
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.ClassDef) and node.name.endswith("Error"):
                outside.append(f"{path.relative_to(SRC)}:{node.lineno} {node.name}")
    assert outside == []


def test_moved_errors_stay_importable_from_their_old_places() -> None:
    from dioptra_plugins import signing
    from dioptra_plugins.plugindir import pylock

    assert signing.TrustError is errors.TrustError
    assert signing.SignedMismatchError is errors.SignedMismatchError
    assert signing.SigningError is errors.SigningError
    assert signing.UnsignedRootError is errors.UnsignedRootError
    assert pylock.LockFileError is errors.LockFileError


def test_errors_with_facts_survive_pickling() -> None:
    """A Prefect task's failed state or a process pool pickles the error: facts and words stay
    (BaseException's own reduce would call ``__init__`` with the message and fail)."""
    originals: list[DioptraPluginsError] = [
        ObjectNotFoundError(key="k", url="u", no_index=True),
        LockTimeoutError(path="/p", timeout=2.0, holder=7),
        UnknownPluginFunctionError(package="a", plugin="b", func="f", label=None, known=["g"]),
        ResolutionError("no", causes=[ResolutionCause("alpha", ">=3", None)], rounds=3),
        LockFileError("lock.toml", "bad"),
        PluginImportError("pkg.mod", LoadFailure("/x/mod.py", 3, "SyntaxError: bad")),
    ]
    for original in originals:
        copy = pickle.loads(pickle.dumps(original))
        assert type(copy) is type(original)
        assert str(copy) == str(original)
        assert copy.details() == original.details()
    imported = pickle.loads(pickle.dumps(originals[-1]))
    assert isinstance(imported, PluginImportError)
    assert (imported.name, imported.path, imported.line) == ("pkg.mod", "/x/mod.py", 3)


# --- library errors name parameters; the command line names flags --------------------------------


def test_a_library_usage_error_names_parameters_not_flags(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as caught:
        sync(
            ["alpha"], index=str(tmp_path), plugin_dir=tmp_path / "p", dry_run=True, reinstall=True
        )
    assert str(caught.value) == "`dry_run` and `reinstall` do not go together"
    assert caught.value.parameters == ["dry_run", "reinstall"]
    assert "--" not in str(caught.value)


def test_the_command_line_maps_each_parameter_to_its_flag(tmp_path: Path) -> None:
    done = cli(
        "sync",
        "alpha",
        "--index",
        str(tmp_path / "index"),
        "--plugin-dir",
        str(tmp_path / "p"),
        "--dry-run",
        "--reinstall",
        "--json",
    )
    assert done.returncode == 2, done.stderr
    document = json.loads(done.stdout)
    assert document["error"] == "--dry-run and --reinstall do not go together"
    assert "error: --dry-run and --reinstall do not go together" in done.stderr
    assert document["details"] == {
        "parameters": ["dry_run", "reinstall"],
        "flags": {"dry_run": "--dry-run", "reinstall": "--reinstall"},
    }


def test_a_parameter_the_command_lacks_keeps_its_name() -> None:
    import click

    from dioptra_plugins.cli.main import _in_flags

    command = click.Command("x", params=[click.Option(["-j", "--jobs"])])
    error = UsageError("`jobs` and `other` clash", parameters=("jobs", "other"))
    assert _in_flags(error, command) == ("--jobs and `other` clash", {"jobs": "--jobs"})
    argument = click.Command("y", params=[click.Argument(["requirements"], nargs=-1)])
    message, _flags = _in_flags(UsageError("`requirements`", parameters=["requirements"]), argument)
    assert message == click.Argument(["requirements"], nargs=-1).human_readable_name


def test_build_names_version_in_python_and_its_flag_on_the_command_line(tmp_path: Path) -> None:
    from dioptra_plugins.bundle.build import build_bundle

    package = tmp_path / "demo_pkg"
    package.mkdir()
    (package / "__init__.py").write_text("")
    with pytest.raises(UsageError) as caught:
        build_bundle(package, tmp_path / "dist", version="not a version")
    assert str(caught.value) == "`version` 'not a version' is not a valid PEP 440 version"
    done = cli("build", str(package), "--version", "not a version", "-o", str(tmp_path / "d"))
    assert done.returncode == 2, done.stderr
    assert "error: --version 'not a version' is not a valid PEP 440 version" in done.stderr
    # `name` is build's --name although the command's variable is project_name.
    named = cli(
        "build", str(package), "--version", "1.0", "--name", "bad name!", "-o", str(tmp_path / "d")
    )
    assert named.returncode == 2, named.stderr
    assert "error: --name 'bad name!' is not a valid project name" in named.stderr
    project = tmp_path / "project"
    project.mkdir()
    (project / "pyproject.toml").write_text("[project]\nname = 'p'\nversion = '1'\n")
    given = cli("build", str(project), "--version", "1.0", "--requires", "x", "--json")
    assert given.returncode == 2, given.stderr
    document = json.loads(given.stdout)
    assert document["error"].endswith("not with --version/--requires")
    assert document["details"]["flags"] == {"version": "--version", "requires": "--requires"}


def test_index_repair_names_its_flags(tmp_path: Path) -> None:
    done = cli("index", "repair", "--index", str(tmp_path / "idx"), "--choose", "zz", "--json")
    assert done.returncode == 2, done.stderr
    document = json.loads(done.stdout)
    assert document["kind"] == "UsageError"
    assert document["error"].startswith("--choose 'zz': give the sha256 of a recorded root")
    assert document["details"] == {"parameters": ["choose"], "flags": {"choose": "--choose"}}
