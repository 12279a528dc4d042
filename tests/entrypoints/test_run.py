"""Running entry points: exit codes, cwd, streaming, quoting end to end, pins, output files.

The runner is called in-process (``run_entry_point``) where the test needs to look inside the
run, and through the real ``dioptra-plugins`` executable where the CLI's behaviour matters
(exit code, messages on stderr, signals).
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from entrypoint_projects import ARGV_SCRIPT, add_generation, make_project

from dioptra_plugins.entrypoints.run import RunRequest, run_entry_point
from dioptra_plugins.errors import ParameterError, UsageError
from dioptra_plugins.plugindir.layout import PluginDirLayout

CLI = [sys.executable, "-m", "dioptra_plugins"]


def simple_project(tmp_path: Path, command: str, parameters: str = "{}") -> Path:
    return make_project(
        tmp_path / "project",
        f"""\
        name: demo
        entry_points:
          main:
            parameters: {parameters}
            command: {json.dumps(command)}
        """,
        **{"argv.py": ARGV_SCRIPT},
    )


def argv_line(output: str) -> list[str]:
    lines = [line for line in output.splitlines() if line.startswith("ARGV=")]
    assert len(lines) == 1, output
    result: list[str] = json.loads(lines[0][len("ARGV=") :])
    return result


@pytest.fixture(autouse=True)
def _no_ambient_plugin_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    for variable in ("DIOPTRA_PLUGIN_DIR", "DIOPTRA_PLUGINS_INDEX", "MLFLOW_TRACKING_URI"):
        monkeypatch.delenv(variable, raising=False)


def test_exit_code_passes_through(tmp_path: Path) -> None:
    project = simple_project(tmp_path, "exit 7")
    result = run_entry_point(RunRequest(project, output_dir=tmp_path / "out"))
    assert result.exit_code == 7
    assert json.loads((tmp_path / "out" / "run.json").read_text())["exit_code"] == 7


def test_killed_command_reports_128_plus_signal(tmp_path: Path) -> None:
    project = simple_project(tmp_path, "kill -9 $$")
    assert run_entry_point(RunRequest(project)).exit_code == 128 + 9


def test_command_runs_in_the_project_dir_with_output_streamed(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = simple_project(tmp_path, "pwd; echo to-stderr >&2")
    assert run_entry_point(RunRequest(project)).exit_code == 0
    out, err = capfd.readouterr()
    assert out.strip() == str(project)
    assert "to-stderr" in err


HOSTILE = [
    "x; touch PWNED",
    "$(touch PWNED)",
    "`touch PWNED`",
    'it\'s "quoted"; touch PWNED',
    "first\ntouch PWNED\n",
    "a b\tc",
]


@pytest.mark.parametrize("value", HOSTILE)
def test_hostile_parameters_run_nothing_through_the_runner(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], value: str
) -> None:
    project = simple_project(
        tmp_path,
        f"{sys.executable} argv.py --s {{s}} --f {{f}}",
        parameters="{s: string, f: {type: float, default: 0.5}}",
    )
    request = RunRequest(project, parameters={"s": value, "undeclared": value})
    assert run_entry_point(request).exit_code == 0
    out, _ = capfd.readouterr()
    assert argv_line(out) == ["--s", value, "--f", "0.5", "--undeclared", value]
    assert not (project / "PWNED").exists()
    assert not Path("PWNED").exists()


def test_path_parameters_arrive_absolute(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    project = simple_project(
        tmp_path,
        f"{sys.executable} argv.py {{given}} {{default}}",
        parameters="{given: path, default: {type: path, default: out/m.json}}",
    )
    monkeypatch.chdir(tmp_path)
    assert run_entry_point(RunRequest(project, parameters={"given": "data.csv"})).exit_code == 0
    out, _ = capfd.readouterr()
    assert argv_line(out) == [str(tmp_path / "data.csv"), str(project / "out" / "m.json")]


def test_output_dir_gets_the_lock_and_run_json(
    tmp_path: Path, synced_plugin_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = simple_project(
        tmp_path,
        f"{sys.executable} job.py {{eps}} {synced_plugin_dir}",
        parameters="{eps: {type: float, default: 0.1}}",
    )
    (project / "job.py").write_text(
        "import os, sys\n"
        "sys.path.insert(0, os.environ['DIOPTRA_PLUGIN_DIR'])\n"
        "import demo_pkg\n"
        "pins = os.listdir(os.path.join(sys.argv[2], '.dioptra-plugins', 'pins'))\n"
        "print('VALUE', demo_pkg.VALUE, 'PINS', len(pins))\n"
        "print('ENV', os.environ['DIOPTRA_PLUGIN_DIR'], os.environ['DIOPTRA_PLUGIN_GENERATION'])\n"
        "sys.exit(3)\n"
    )
    out_dir = tmp_path / "out"
    request = RunRequest(
        project,
        parameters={"eps": "0.25"},
        plugin_dir=synced_plugin_dir,
        output_dir=out_dir,
    )
    result = run_entry_point(request)
    assert result.exit_code == 3
    out, _ = capfd.readouterr()
    generation = synced_plugin_dir / ".dioptra-plugins" / "generations" / "000001"
    assert "VALUE 1.0.0 PINS 1" in out
    assert f"ENV {generation} 000001" in out
    # The pin is gone once the command has exited.
    assert os.listdir(PluginDirLayout(synced_plugin_dir).pins) == []
    lock = (out_dir / "pylock.toml").read_text()
    assert lock == (generation / "pylock.toml").read_text()
    record = json.loads((out_dir / "run.json").read_text())
    assert record["entry_point"] == "main"
    assert record["project"] == "demo"
    assert record["parameters"] == {"eps": "0.25"}
    assert record["generation"] == "000001"
    assert record["plugin_dir"] == str(synced_plugin_dir)
    assert record["lock"] == "pylock.toml"
    assert record["exit_code"] == 3
    assert record["synced_from"] is None
    assert record["plugins"] == {"demo-pkg": "1.0.0"}
    assert record["started_at"] <= record["ended_at"]
    assert record["timings"]["command_seconds"] >= 0
    assert record == dict(result.record)


def test_a_switch_during_the_run_does_not_change_the_jobs_code(
    tmp_path: Path, synced_plugin_dir: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    project = simple_project(tmp_path, f"{sys.executable} job.py")
    ready, go = tmp_path / "ready", tmp_path / "go"
    (project / "job.py").write_text(
        "import os, sys, time\n"
        "sys.path.insert(0, os.environ['DIOPTRA_PLUGIN_DIR'])\n"
        "import demo_pkg\n"
        f"open({str(ready)!r}, 'w').close()\n"
        f"while not os.path.exists({str(go)!r}): time.sleep(0.02)\n"
        "import demo_pkg.late\n"
        "print('VALUES', demo_pkg.VALUE, demo_pkg.late.VALUE)\n"
    )
    results: list[int] = []
    request = RunRequest(project, plugin_dir=synced_plugin_dir)
    runner = threading.Thread(target=lambda: results.append(run_entry_point(request).exit_code))
    runner.start()
    try:
        deadline = time.monotonic() + 30
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)
        add_generation(synced_plugin_dir, 2, "2.0.0")  # what a sync during the run would do
        # Through the plugin dir's root the new code is visible now: the pin is what protects.
        late = synced_plugin_dir / "demo_pkg" / "late.py"
        assert "2.0.0" in late.read_text()
    finally:
        go.touch()  # never leave the job waiting, whatever failed above
        runner.join(timeout=60)
    assert results == [0]
    assert "VALUES 1.0.0 1.0.0" in capfd.readouterr().out
    # The next run uses the new generation.
    (project / "job.py").write_text(
        "import os, sys\nsys.path.insert(0, os.environ['DIOPTRA_PLUGIN_DIR'])\n"
        "import demo_pkg.late\nprint('VALUES', demo_pkg.late.VALUE)\n"
    )
    assert run_entry_point(request).exit_code == 0
    assert "VALUES 2.0.0" in capfd.readouterr().out


def test_a_plain_plugin_dir_is_used_as_it_is(
    tmp_path: Path, capfd: pytest.CaptureFixture[str]
) -> None:
    plain = tmp_path / "plain"
    plain.mkdir()
    project = simple_project(tmp_path, 'echo "DIR=$DIOPTRA_PLUGIN_DIR"')
    result = run_entry_point(RunRequest(project, plugin_dir=plain, output_dir=tmp_path / "out"))
    assert result.exit_code == 0
    assert f"DIR={plain}" in capfd.readouterr().out
    assert result.record["generation"] is None
    assert not (tmp_path / "out" / "pylock.toml").exists()


def test_plugin_dir_comes_from_the_environment(
    tmp_path: Path, synced_plugin_dir: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("DIOPTRA_PLUGIN_DIR", str(synced_plugin_dir))
    project = simple_project(tmp_path, "true")
    assert run_entry_point(RunRequest(project)).record["generation"] == "000001"


def test_missing_plugin_dir_is_an_error(tmp_path: Path) -> None:
    project = simple_project(tmp_path, "true")
    with pytest.raises(Exception, match="plugin dir does not exist"):
        run_entry_point(RunRequest(project, plugin_dir=tmp_path / "nowhere"))


def test_plugins_txt_asks_for_a_sync_that_needs_an_index(
    tmp_path: Path, synced_plugin_dir: Path
) -> None:
    project = simple_project(tmp_path, "true")
    (project / "plugins.txt").write_text("# plugins\ndemo-pkg>=1,<2\n")
    with pytest.raises(UsageError, match="needs an index"):
        run_entry_point(RunRequest(project, plugin_dir=synced_plugin_dir))
    # Opting out of the project's plugins.txt runs on the plugin dir as it is.
    request = RunRequest(project, plugin_dir=synced_plugin_dir, use_project_plugins=False)
    assert run_entry_point(request).exit_code == 0


def test_an_empty_plugins_txt_syncs_nothing(
    tmp_path: Path, synced_plugin_dir: Path, caplog: pytest.LogCaptureFixture
) -> None:
    project = simple_project(tmp_path, "true")
    (project / "plugins.txt").write_text("# nothing yet\n\n")
    result = run_entry_point(RunRequest(project, plugin_dir=synced_plugin_dir))
    assert result.exit_code == 0
    assert result.record["synced_from"] is None
    assert "lists no requirements: not syncing" in caplog.text


def test_a_requirements_file_wins_over_plugins_txt(tmp_path: Path) -> None:
    project = simple_project(tmp_path, "true")
    (project / "plugins.txt").write_text("demo-pkg\n")
    other = tmp_path / "other.txt"
    other.write_text("other-pkg>=2\n")
    with pytest.raises(UsageError, match=r"plugins of .*other\.txt needs a plugin dir"):
        run_entry_point(RunRequest(project, requirements_file=other))


def test_syncing_without_a_plugin_dir_is_a_usage_error(tmp_path: Path) -> None:
    project = simple_project(tmp_path, "true")
    with pytest.raises(UsageError, match="needs a plugin dir"):
        run_entry_point(RunRequest(project, requirements=["demo-pkg"], index=str(tmp_path)))


def test_parameter_errors_happen_before_anything_runs(tmp_path: Path) -> None:
    project = simple_project(tmp_path, "touch RAN", parameters="{a: float, b: path}")
    with pytest.raises(ParameterError, match="missing values for a, b"):
        run_entry_point(RunRequest(project, output_dir=tmp_path / "out"))
    assert not (project / "RAN").exists()
    assert not (tmp_path / "out").exists()


# --- through the real executable -----------------------------------------------------------


def cli(*args: str, cwd: Path | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIOPTRA_", "MLFLOW_"))}
    return subprocess.run(
        [*CLI, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120
    )


def test_cli_passes_the_exit_code_and_streams_output(tmp_path: Path) -> None:
    project = simple_project(
        tmp_path, f"{sys.executable} argv_exit4.py {{s}}", parameters="{s: string}"
    )
    (project / "argv_exit4.py").write_text(ARGV_SCRIPT + "raise SystemExit(4)\n")
    done = cli("run", str(project), "-P", "s=$(touch PWNED); `x`", "-P", "more=a b")
    assert done.returncode == 4, done.stderr
    assert argv_line(done.stdout) == ["$(touch PWNED); `x`", "--more", "a b"]
    assert not (project / "PWNED").exists()


def test_cli_reports_all_missing_parameters_with_exit_2(tmp_path: Path) -> None:
    project = simple_project(tmp_path, "touch RAN", parameters="{a: float, b: path, c: uri}")
    done = cli("run", str(project), "-P", "c=x")
    assert done.returncode == 2
    assert "error: entry point 'main': bad parameters" in done.stderr
    assert "missing values for a, b" in done.stderr
    assert "Traceback" not in done.stderr
    assert not (project / "RAN").exists()


def test_cli_unknown_entry_point(tmp_path: Path) -> None:
    project = simple_project(tmp_path, "true")
    done = cli("run", str(project), "-e", "train")
    assert done.returncode == 1
    assert "no entry point 'train' (available: main)" in done.stderr


def test_cli_bad_assignment_is_a_usage_error(tmp_path: Path) -> None:
    done = cli("run", str(simple_project(tmp_path, "true")), "-P", "novalue")
    assert done.returncode == 2
    assert "expected name=value" in done.stderr


def test_cli_forwards_sigterm_and_still_records_the_run(tmp_path: Path) -> None:
    project = simple_project(
        tmp_path, "trap 'echo got-term; exit 5' TERM; echo started; while :; do sleep 0.05; done"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DIOPTRA_", "MLFLOW_"))}
    # A session of its own, so that whatever happens the whole tree can be stopped by group.
    process = subprocess.Popen(
        [*CLI, "run", str(project), "--output-dir", str(tmp_path / "out")],
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        start_new_session=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "started"
        process.send_signal(signal.SIGTERM)
        rest, _ = process.communicate(timeout=30)
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == 5
    assert "got-term" in rest
    assert json.loads((tmp_path / "out" / "run.json").read_text())["exit_code"] == 5


def test_python_in_a_command_is_the_runners_interpreter(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    project = simple_project(tmp_path, "command -v python")
    assert run_entry_point(RunRequest(project)).exit_code == 0
    assert capfd.readouterr().out.strip() == str(Path(sys.executable).parent / "python")
