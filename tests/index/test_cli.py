"""The index commands end to end: output, --json, exit codes, the bad-input list."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

import pytest
from click.testing import CliRunner, Result
from index_helpers import WheelMaker, snapshot

from dioptra_plugins.cli.main import main
from dioptra_plugins.index.url import open_storage


def run(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(main, list(args), env=env, catch_exceptions=False)


def test_the_new_user_story(index_url: str, make_wheel: WheelMaker) -> None:
    """init, publish, list, show, yank, check: on every backend, through the CLI."""
    created = run("index", "init", index_url, "--json")
    assert created.exit_code == 0, created.stderr
    assert json.loads(created.stdout) == {"url": index_url, "created": True, "serial": 0}

    wheels = [make_wheel("demo_pkg", v, requires=["numpy>=1"]) for v in ("1.0.0", "1.1.0")]
    published = run("publish", *map(str, wheels), "--index", index_url, "--json")
    assert published.exit_code == 0, published.stderr
    document = json.loads(published.stdout)
    assert document["serial"] == 1
    assert [f["status"] for f in document["files"]] == ["published", "published"]

    again = run("publish", str(wheels[0]), "--index", index_url)
    assert again.exit_code == 0
    assert "already published: demo_pkg-1.0.0-py3-none-any.whl" in again.stdout

    yanked = run("yank", "Demo_Pkg==1.1", "--reason", "numerically wrong", "--index", index_url)
    assert yanked.exit_code == 0, yanked.stderr
    assert "yanked: demo-pkg 1.1.0 (serial 2)" in yanked.stdout

    listed = run("index", "list", "--index", index_url, "--json")
    assert json.loads(listed.stdout) == {
        "url": index_url,
        "serial": 2,
        "projects": [{"name": "demo-pkg", "latest": "1.0.0", "versions": 2}],
    }
    table = run("index", "list", "--index", index_url)
    assert table.stdout.split() == ["project", "latest", "versions", "demo-pkg", "1.0.0", "2"]

    shown = run("index", "show", "demo-pkg", "--index", index_url, "--json")
    show = json.loads(shown.stdout)
    assert show["latest"] == "1.0.0"
    assert [v["version"] for v in show["versions"]] == ["1.0.0", "1.1.0"]
    newest = show["versions"][1]["files"][0]
    assert (newest["yanked"], newest["yanked_reason"]) == (True, "numerically wrong")
    assert newest["manifest"]["tasks"][0]["signature"] == "(x: int, scale: float=1.0) -> float"
    text = run("index", "show", "demo_pkg", "--index", index_url).stdout
    assert "yanked (numerically wrong)" in text
    assert "task demo_pkg.tasks.task0(x: int, scale: float=1.0) -> float" in text

    unyanked = run("unyank", "demo-pkg==1.1.0", "--index", index_url, "--json")
    assert json.loads(unyanked.stdout)["changed"] is True

    checked = run("index", "check", "--index", index_url, "--json")
    assert checked.exit_code == 0
    report = json.loads(checked.stdout)
    assert (report["ok"], report["serial"], report["files"]) == (True, 3, 2)


def test_index_comes_from_the_environment(tmp_path: Path, make_wheel: WheelMaker) -> None:
    env = {"DIOPTRA_PLUGINS_INDEX": str(tmp_path / "idx")}
    assert run("publish", str(make_wheel()), env=env).exit_code == 0
    assert "demo-pkg" in run("index", "list", env=env).stdout


@pytest.mark.parametrize(
    "args",
    [
        ("index", "list"),
        ("index", "show", "x"),
        ("index", "check"),
        ("index", "init"),
        ("index", "site"),
        ("index", "repair"),
        ("index", "refresh", "--keys", "KEYS"),
        ("index", "renew", "--keys", "KEYS"),
        ("keys", "rotate", "timestamp", "--keys", "KEYS"),
        ("yank", "a==1"),
        ("unyank", "a==1"),
        ("sync", "a", "--plugin-dir", "PLUGINS"),
    ],
    ids=" ".join,
)
def test_a_missing_index_is_a_usage_error(args: tuple[str, ...], tmp_path: Path) -> None:
    """Every command says it in one wording, the library's (``sync()``) with its flag."""
    places = {"KEYS": str(tmp_path / "keys"), "PLUGINS": str(tmp_path / "plugins")}
    args = tuple(places.get(arg, arg) for arg in args)
    result = run(*args, env={"DIOPTRA_PLUGINS_INDEX": ""})
    assert result.exit_code == 2
    assert result.stderr == "error: no index: pass --index or set $DIOPTRA_PLUGINS_INDEX\n"
    assert result.stdout == ""
    as_json = json.loads(run(*args, "--json", env={"DIOPTRA_PLUGINS_INDEX": ""}).stdout)
    assert as_json["details"]["flags"] == {"index": "--index"}


def test_publish_without_an_index_is_a_usage_error(make_wheel: WheelMaker) -> None:
    result = run("publish", str(make_wheel()), env={"DIOPTRA_PLUGINS_INDEX": ""})
    assert result.exit_code == 2


@pytest.mark.parametrize("url", ["ftp://host/x", "http://", "s3://Bad_Bucket", "file://host/x"])
def test_a_malformed_index_url_is_a_usage_error(url: str, make_wheel: WheelMaker) -> None:
    result = run("publish", str(make_wheel()), "--index", url)
    assert result.exit_code == 2
    assert "error:" in result.stderr
    assert "Traceback" not in result.stderr


@pytest.mark.parametrize("pin", ["demo", "demo==", "==1.0", "demo==not a version", "dé==1"])
def test_a_malformed_pin_is_a_usage_error(pin: str, tmp_path: Path) -> None:
    result = run("yank", pin, "--index", str(tmp_path / "idx"))
    assert result.exit_code == 2
    assert "error:" in result.stderr


def test_a_hostile_wheel_exits_1_and_writes_nothing(tmp_path: Path, make_wheel: WheelMaker) -> None:
    index = tmp_path / "idx"
    assert run("index", "init", str(index)).exit_code == 0
    before = snapshot(open_storage(str(index)))
    hostile = tmp_path / "evil-1.0-py3-none-any.whl"
    with zipfile.ZipFile(hostile, "w") as archive:
        archive.writestr("/abs/evil.py", b"import os")
    result = run("publish", str(make_wheel()), str(hostile), "--index", str(index))
    assert result.exit_code == 1
    assert "is not a valid bundle" in result.stderr
    assert "absolute path" in result.stderr
    assert result.stdout == ""
    assert snapshot(open_storage(str(index))) == before


def test_a_corrupt_root_exits_1_everywhere(tmp_path: Path, make_wheel: WheelMaker) -> None:
    index = tmp_path / "idx"
    run("publish", str(make_wheel()), "--index", str(index))
    (index / "index.json").write_bytes(b'{"format": 1, "serial"')  # truncated
    for args in (("index", "list"), ("index", "show", "demo-pkg"), ("yank", "demo-pkg==1.0.0")):
        result = run(*args, "--index", str(index))
        assert result.exit_code == 1, args
        assert "index.json: not valid JSON" in result.stderr
        assert "truncated" in result.stderr
    checked = run("index", "check", "--index", str(index))
    assert checked.exit_code == 1
    assert "damaged: index.json" in checked.stdout


def test_an_unknown_format_exits_1(tmp_path: Path) -> None:
    index = tmp_path / "idx"
    index.mkdir()
    (index / "index.json").write_text('{"format": 7, "serial": 1, "projects": {}}')
    result = run("index", "list", "--index", str(index))
    assert result.exit_code == 1
    assert "unknown format version 7" in result.stderr


def test_show_of_an_unknown_project(tmp_path: Path) -> None:
    run("index", "init", str(tmp_path / "idx"))
    result = run("index", "show", "nothing", "--index", str(tmp_path / "idx"))
    assert result.exit_code == 1  # a failed lookup, as `yank nothing==1.0` is (issue 25)
    assert "nothing is not in the index" in result.stderr


def test_missing_bucket_through_the_cli(s3_server: object, make_wheel: WheelMaker) -> None:
    result = run("publish", str(make_wheel()), "--index", "s3://no-such-bucket-cli/p")
    assert result.exit_code == 1
    assert "the bucket 'no-such-bucket-cli' does not exist" in result.stderr
    init = run("index", "init", "s3://no-such-bucket-cli/p")
    assert init.exit_code == 1
    assert "does not exist" in init.stderr


def test_publish_shows_a_progress_bar_only_on_a_terminal(
    tmp_path: Path, make_wheel: WheelMaker
) -> None:
    import sys

    from terminal import run_on_a_terminal

    wheels = [str(make_wheel("demo_pkg", v)) for v in ("1.0", "1.1")]
    script = "from dioptra_plugins.cli.main import main; main()"
    command = [sys.executable, "-c", script, "publish", *wheels, "--index", str(tmp_path / "i")]
    code, shown = run_on_a_terminal(command)
    assert code == 0
    assert b"uploading 2 bundles" in shown  # a byte bar
    assert b"100%" in shown
    plain = run("publish", *wheels, "--index", str(tmp_path / "j"))
    assert "uploading" not in plain.stderr
