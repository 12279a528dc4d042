"""MLproject parsing: every parameter form and type, and every kind of bad file."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from dioptra_plugins.entrypoints.mlproject import Parameter, load_mlproject
from dioptra_plugins.errors import MLprojectError


def write_project(tmp_path: Path, text: str) -> Path:
    (tmp_path / "MLproject").write_text(text, encoding="utf-8")
    return tmp_path


FULL = """\
name: attack
python_env: python_env.yaml
docker_env:
  image: some/image
entry_points:
  main:
    parameters:
      short_float: float
      short_path: path
      short_uri: uri
      short_string: string
      untyped_null:
      inline: {type: float, default: 0.1}
      inline_no_default: {type: path}
      inline_untyped: {default: hello}
      long:
        type: uri
        default: s3://bucket/data
      long_int_default:
        type: float
        default: 100
    command: "python attack.py --epsilon {inline}"
  other:
    command: echo hi
"""


def test_every_form_and_type_parses(tmp_path: Path) -> None:
    project = load_mlproject(write_project(tmp_path, FULL))
    assert project.name == "attack"
    assert project.directory == tmp_path.absolute()
    assert list(project.entry_points) == ["main", "other"]
    main = project.entry_point("main")
    assert main.command == "python attack.py --epsilon {inline}"
    assert dict(main.parameters) == {
        "short_float": Parameter("short_float", "float"),
        "short_path": Parameter("short_path", "path"),
        "short_uri": Parameter("short_uri", "uri"),
        "short_string": Parameter("short_string", "string"),
        "untyped_null": Parameter("untyped_null", "string"),
        "inline": Parameter("inline", "float", "0.1"),
        "inline_no_default": Parameter("inline_no_default", "path"),
        "inline_untyped": Parameter("inline_untyped", "string", "hello"),
        "long": Parameter("long", "uri", "s3://bucket/data"),
        "long_int_default": Parameter("long_int_default", "float", "100"),
    }
    assert project.entry_point("other").parameters == {}


def test_environment_keys_are_reported_as_not_used(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    with caplog.at_level(logging.WARNING):
        project = load_mlproject(write_project(tmp_path, FULL))
    assert project.unused_environment == ("python_env", "docker_env")
    warnings = [r.getMessage() for r in caplog.records if r.levelno == logging.WARNING]
    assert any("python_env is not used" in w for w in warnings)
    assert any("docker_env is not used" in w for w in warnings)


def test_no_environment_keys_means_nothing_unused(tmp_path: Path) -> None:
    project = load_mlproject(write_project(tmp_path, "entry_points: {main: {command: 'true'}}"))
    assert project.unused_environment == ()
    assert project.name is None


def test_unknown_entry_point_lists_the_available_ones(tmp_path: Path) -> None:
    project = load_mlproject(write_project(tmp_path, FULL))
    with pytest.raises(MLprojectError, match=r"no entry point 'train' \(available: main, other\)"):
        project.entry_point("train")


def test_missing_file_names_the_file(tmp_path: Path) -> None:
    with pytest.raises(MLprojectError, match="no MLproject file") as caught:
        load_mlproject(tmp_path)
    assert str(tmp_path / "MLproject") in str(caught.value)


def test_missing_project_dir(tmp_path: Path) -> None:
    with pytest.raises(MLprojectError, match="project directory does not exist"):
        load_mlproject(tmp_path / "nowhere")


def test_bad_yaml_reports_the_line(tmp_path: Path) -> None:
    text = "name: x\nentry_points:\n  main:\n    command: [unclosed\n    parameters: {}\n"
    with pytest.raises(MLprojectError, match=r"MLproject:\d+:\d+: invalid YAML") as caught:
        load_mlproject(write_project(tmp_path, text))
    line = int(str(caught.value).split("MLproject:")[1].split(":")[0])
    assert 4 <= line <= 5


def test_yaml_tags_are_not_executed(tmp_path: Path) -> None:
    # safe_load refuses python tags instead of constructing objects.
    text = "name: !!python/object/apply:os.system ['touch PWNED']\nentry_points: {}\n"
    with pytest.raises(MLprojectError, match="invalid YAML"):
        load_mlproject(write_project(tmp_path, text))
    assert not (tmp_path / "PWNED").exists()


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "entry_points:\n  main:\n    parameters: {a: float}\n",
            r"entry point 'main': missing 'command'",
        ),
        ("entry_points:\n  main:\n    command: ''\n", "'command' must be a non-empty string"),
        ("entry_points:\n  main:\n    command: [a, b]\n", "'command' must be a non-empty string"),
        (
            "entry_points:\n  main:\n    command: x\n    parameters: {a: int}\n",
            r"parameter 'a': unknown type 'int' \(allowed: string, float, path, uri\)",
        ),
        (
            "entry_points:\n  main:\n    command: x\n    parameters: {a: {type: integer}}\n",
            "parameter 'a': unknown type 'integer'",
        ),
        (
            "entry_points:\n  main:\n    command: x\n    parameters: {a: {type: float, dflt: 1}}\n",
            r"parameter 'a': unknown keys dflt",
        ),
        (
            "entry_points:\n  main:\n    command: x\n    parameters: {a: {default: yes}}\n",
            "YAML boolean; quote it",
        ),
        (
            "entry_points:\n  main:\n    command: x\n    parameters: {a: {default: [1]}}\n",
            "default must be a string or a number, found a list",
        ),
        (
            "entry_points:\n  main:\n    command: x\n    parameters: {a: [float]}\n",
            "expected a type name or a mapping, found a list",
        ),
        (
            "entry_points:\n  main:\n    command: x\n    parameters: {'a b': float}\n",
            "must be a Python identifier",
        ),
        ("entry_points:\n  main:\n    command: x\n    parameters: [a]\n", "must be a mapping"),
        ("entry_points:\n  main: echo\n", "expected a mapping with 'command'"),
        ("entry_points: [main]\n", "'entry_points' must be a mapping, found a list"),
        ("name: x\n", "no 'entry_points' mapping"),
        ("- a\n- b\n", "expected a mapping at the top level, found a list"),
        ("", "expected a mapping at the top level, found nothing"),
    ],
)
def test_bad_files_get_clear_errors(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(MLprojectError, match=message) as caught:
        load_mlproject(write_project(tmp_path, text))
    assert str(tmp_path / "MLproject") in str(caught.value)


def test_unreadable_encoding(tmp_path: Path) -> None:
    (tmp_path / "MLproject").write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(MLprojectError, match="cannot read"):
        load_mlproject(tmp_path)
