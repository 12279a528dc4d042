"""A command's options live with that command (issue 22, "state where it belongs").

``--quiet``, ``--json`` and ``--timeout`` are held by the click context of the command line
that gave them, never by a module: a second command run in the same process starts from the
defaults, and a helper called outside any command sees the defaults.
"""

from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from dioptra_plugins.cli import output as output_module
from dioptra_plugins.cli.main import main
from dioptra_plugins.cli.output import Output, is_quiet, json_requested, output, say
from dioptra_plugins.errors import UsageError


def test_quiet_does_not_leak_into_the_next_command(tmp_path: Path) -> None:
    runner = CliRunner()
    quiet = runner.invoke(main, ["index", "init", str(tmp_path / "a"), "--quiet"])
    assert quiet.exit_code == 0, quiet.output
    assert quiet.stdout == ""
    loud = runner.invoke(main, ["index", "init", str(tmp_path / "b")])
    assert loud.exit_code == 0, loud.output
    assert loud.stdout.startswith("created an empty index at ")


def test_json_does_not_leak_into_the_next_command(tmp_path: Path) -> None:
    runner = CliRunner()
    missing = str(tmp_path / "no-index")
    as_json = runner.invoke(main, ["index", "list", "--index", missing, "--json"])
    assert as_json.exit_code == 1
    assert json.loads(as_json.stdout)["kind"] == "ObjectNotFoundError"
    plain = runner.invoke(main, ["index", "list", "--index", missing])
    assert plain.exit_code == 1
    assert plain.stdout == ""  # no JSON document owed: this command had no --json
    assert plain.stderr.startswith("error: no index at ")


def test_a_quiet_command_then_a_json_error_then_a_plain_one(tmp_path: Path) -> None:
    runner = CliRunner()
    runner.invoke(main, ["-v", "index", "init", str(tmp_path / "a"), "-q", "--json"])
    done = runner.invoke(main, ["index", "init", str(tmp_path / "b")])
    assert done.stdout.startswith("created an empty index at ")
    assert "{" not in done.stdout


def test_outside_a_command_the_defaults_hold(capsys: pytest.CaptureFixture[str]) -> None:
    assert click.get_current_context(silent=True) is None
    assert output() == Output()
    assert not is_quiet()
    assert not json_requested()
    say("a status line")
    assert capsys.readouterr().out == "a status line\n"


def test_the_settings_belong_to_the_context_that_was_given_them() -> None:
    first = click.Context(main)
    second = click.Context(main)
    output(first).quiet = True
    output(first).json = True
    assert output(second) == Output()
    with first:
        assert is_quiet()
        assert json_requested()
        sub = click.Context(click.Command("sub"), parent=first)
        assert output(sub) is output(first)  # a subcommand sees its group's settings
    with second:
        assert not is_quiet()


def test_the_module_keeps_no_command_state() -> None:
    # The flags were module globals once (set by one command, read by the next).
    assert not any(
        isinstance(value, bool) for name, value in vars(output_module).items() if name[0] == "_"
    )


def test_a_bound_say_keeps_its_commands_quiet_in_another_thread(
    capsys: pytest.CaptureFixture[str],
) -> None:
    import threading

    quiet = Output(quiet=True)
    thread = threading.Thread(target=quiet.say, args=("not shown",))
    thread.start()
    thread.join()
    assert capsys.readouterr().out == ""


def test_sync_passes_each_option_to_sync_by_its_name(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import inspect

    from dioptra_plugins.syncing import engine

    calls: list[tuple[tuple[object, ...], dict[str, object]]] = []

    def recording_sync(*args: object, **kwargs: object) -> object:
        calls.append((args, kwargs))
        raise UsageError("recorded")

    signature = inspect.signature(engine.sync)
    monkeypatch.setattr(engine, "sync", recording_sync)
    args = ["sync", "a>=1", "--index", str(tmp_path), "--timeout", "4", "--jobs", "3"]
    done = CliRunner().invoke(main, [*args, "--plugin-dir", str(tmp_path / "p"), "--dry-run"])
    assert done.exit_code == 2, done.output
    [(positional, keywords)] = calls
    assert positional == (["a>=1"],)
    assert set(keywords) <= set(signature.parameters)
    assert keywords["timeout"] == 4.0
    assert keywords["jobs"] == 3
    assert keywords["dry_run"] is True
    assert keywords["index"] == str(tmp_path)


def test_requirements_with_locked_is_refused_in_the_librarys_words(tmp_path: Path) -> None:
    lock = tmp_path / "pylock.toml"
    lock.write_text('lock-version = "1.0"\n')
    args = ["sync", "a", "--locked", str(lock), "--index", str(tmp_path), "--json"]
    done = CliRunner().invoke(main, [*args, "--plugin-dir", str(tmp_path / "p")])
    assert done.exit_code == 2
    assert done.stderr == "error: give REQUIREMENTS or --locked, not both\n"
    assert json.loads(done.stdout)["details"]["flags"] == {
        "requirements": "REQUIREMENTS",
        "locked": "--locked",
    }
    assert not (tmp_path / "p").exists()


def test_only_yank_takes_a_reason(tmp_path: Path) -> None:
    runner = CliRunner()
    assert "--reason" in runner.invoke(main, ["yank", "--help"]).stdout
    refused = runner.invoke(main, ["unyank", "a==1", "--reason", "x", "--index", str(tmp_path)])
    assert refused.exit_code == 2
    assert "No such option '--reason'" in refused.stderr


def test_plugin_dirs_to_import_from_are_made_absolute_from_flag_or_variable(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import os

    from dioptra_plugins.cli.options import PLUGIN_DIR_VARIABLE, plugin_dir_option

    @click.command()
    @plugin_dir_option(several=True)
    def show(plugin_dir: str | None) -> None:
        click.echo(repr(plugin_dir))

    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv(PLUGIN_DIR_VARIABLE, raising=False)
    runner = CliRunner()
    expected = os.pathsep.join([str(tmp_path / "a"), str(tmp_path / "b")])
    flag = runner.invoke(show, ["--plugin-dir", f"a{os.pathsep}{os.pathsep}b"])
    assert flag.stdout == f"{expected!r}\n"
    variable = runner.invoke(show, [], env={PLUGIN_DIR_VARIABLE: f"a{os.pathsep}b"})
    assert variable.stdout == f"{expected!r}\n"
    assert runner.invoke(show, []).stdout == "None\n"  # the library says what is missing


def test_run_passes_its_timeout_to_the_sync(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dioptra_plugins.index import url

    seen: list[tuple[str, float | None]] = []
    real_open_storage = url.open_storage

    def recording_open_storage(where: str, *, timeout: float | None = None) -> object:
        seen.append((where, timeout))
        return real_open_storage(where, timeout=timeout)

    monkeypatch.setattr(url, "open_storage", recording_open_storage)
    project = tmp_path / "project"
    project.mkdir()
    (project / "MLproject").write_text("name: p\nentry_points:\n  main:\n    command: 'true'\n")
    # Nothing listens on the discard port of the loopback: refused at once, after the open.
    nowhere = f"http://127.0.0.1:9/{tmp_path.name}/"
    args = ["run", str(project), "--sync", "demo", "--index", nowhere, "--timeout", "2.5"]
    done = CliRunner().invoke(main, [*args, "--plugin-dir", str(tmp_path / "plugins")])
    assert done.exit_code == 1, done.output
    assert seen == [(nowhere, 2.5)]
