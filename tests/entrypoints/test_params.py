"""Parameter checking and conversion: missing values, floats, paths, URIs, undeclared names."""

from __future__ import annotations

from pathlib import Path

import pytest

from dioptra_plugins.entrypoints.mlproject import EntryPoint, Parameter
from dioptra_plugins.entrypoints.params import parse_assignments, resolve_parameters
from dioptra_plugins.errors import ParameterError


def entry(*parameters: Parameter) -> EntryPoint:
    return EntryPoint(name="main", command="true", parameters={p.name: p for p in parameters})


def resolve(tmp_path: Path, entry_point: EntryPoint, **given: str) -> dict[str, str]:
    project = tmp_path / "project"
    caller = tmp_path / "caller"
    project.mkdir(exist_ok=True)
    caller.mkdir(exist_ok=True)
    resolved = resolve_parameters(
        entry_point, given, project_dir=project, download_dir=tmp_path / "dl", cwd=caller
    )
    return resolved.as_dict()


def test_all_missing_parameters_in_one_error(tmp_path: Path) -> None:
    ep = entry(Parameter("a", "float"), Parameter("b"), Parameter("c", "path", "x"))
    with pytest.raises(ParameterError, match=r"missing values for a, b \(no default") as caught:
        resolve(tmp_path, ep)
    assert caught.value.exit_code == 2
    assert "c" not in str(caught.value).split("missing values for")[1].split("(")[0]


def test_missing_and_invalid_are_reported_together(tmp_path: Path) -> None:
    ep = entry(Parameter("a", "float"), Parameter("b", "float"))
    with pytest.raises(ParameterError) as caught:
        resolve(tmp_path, ep, b="fast")
    message = str(caught.value)
    assert "missing values for a" in message
    assert "b: expected a float, got 'fast'" in message


@pytest.mark.parametrize("value", ["0.1", "1e-3", "3", "-2.5", " 7 "])
def test_floats_are_checked_and_kept_as_written(tmp_path: Path, value: str) -> None:
    assert resolve(tmp_path, entry(Parameter("x", "float")), x=value) == {"x": value.strip()}


@pytest.mark.parametrize("value", ["abc", "", "0.1.2", "nan", "inf", "1,5"])
def test_bad_floats_are_refused(tmp_path: Path, value: str) -> None:
    with pytest.raises(ParameterError, match="x: expected a"):
        resolve(tmp_path, entry(Parameter("x", "float")), x=value)


def test_defaults_apply(tmp_path: Path) -> None:
    ep = entry(Parameter("eps", "float", "0.1"), Parameter("name", "string", "fgm"))
    assert resolve(tmp_path, ep) == {"eps": "0.1", "name": "fgm"}


def test_given_paths_are_relative_to_the_caller_defaults_to_the_project(tmp_path: Path) -> None:
    ep = entry(Parameter("given", "path"), Parameter("default", "path", "out/metrics.json"))
    values = resolve(tmp_path, ep, given="data/x.csv")
    assert values["given"] == str(tmp_path / "caller" / "data" / "x.csv")
    assert values["default"] == str(tmp_path / "project" / "out" / "metrics.json")


def test_paths_are_normalized_absolute_and_need_not_exist(tmp_path: Path) -> None:
    ep = entry(Parameter("p", "path"))
    assert resolve(tmp_path, ep, p="../elsewhere/./f") == {"p": str(tmp_path / "elsewhere" / "f")}
    assert resolve(tmp_path, ep, p="/abs/f") == {"p": "/abs/f"}
    assert resolve(tmp_path, ep, p="file:///abs/g") == {"p": "/abs/g"}
    assert resolve(tmp_path, ep, p="file:rel") == {"p": str(tmp_path / "caller" / "rel")}


def test_paths_with_other_schemes_are_refused(tmp_path: Path) -> None:
    with pytest.raises(ParameterError, match="local paths, file:// and s3:// only"):
        resolve(tmp_path, entry(Parameter("p", "path")), p="https://example.com/x")
    with pytest.raises(ParameterError, match="empty value"):
        resolve(tmp_path, entry(Parameter("p", "path")), p="")


def test_uris_pass_through_or_become_absolute(tmp_path: Path) -> None:
    ep = entry(Parameter("u", "uri"))
    for uri in ["s3://bucket/key", "https://example.com/a?b=c", "file:///x", "models:/m/1"]:
        assert resolve(tmp_path, ep, u=uri) == {"u": uri}
    assert resolve(tmp_path, ep, u="data") == {"u": str(tmp_path / "caller" / "data")}


def test_strings_pass_through_untouched(tmp_path: Path) -> None:
    hostile = "x; rm -rf / $(id) `id` 'q' \"d\"\nline"
    assert resolve(tmp_path, entry(Parameter("s")), s=hostile) == {"s": hostile}


def test_undeclared_parameters_are_kept_in_order(tmp_path: Path) -> None:
    resolved = resolve_parameters(
        entry(Parameter("a", "float", "1")),
        {"zeta": "1", "alpha": "two words"},
        project_dir=tmp_path,
        download_dir=tmp_path / "dl",
    )
    assert resolved.declared == {"a": "1"}
    assert list(resolved.extra.items()) == [("zeta", "1"), ("alpha", "two words")]


@pytest.mark.parametrize("name", ["a b", "x;touch PWNED", "-x", "$(id)", "1abc"])
def test_undeclared_names_that_cannot_be_flags_are_refused(tmp_path: Path, name: str) -> None:
    with pytest.raises(ParameterError, match="cannot be passed as a --flag"):
        resolve(tmp_path, entry(), **{name: "1"})


def test_parse_assignments() -> None:
    assert parse_assignments(["a=1", "b=x=y", "c="]) == {"a": "1", "b": "x=y", "c": ""}
    with pytest.raises(ParameterError, match="expected name=value"):
        parse_assignments(["novalue"])
    with pytest.raises(ParameterError, match="expected name=value"):
        parse_assignments(["=1"])
    with pytest.raises(ParameterError, match="given more than once"):
        parse_assignments(["a=1", "a=2"])
