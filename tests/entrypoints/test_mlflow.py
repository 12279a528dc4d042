"""MLflow tracking of entry point runs, on a real local file store."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from entrypoint_projects import make_project

from dioptra_plugins.entrypoints.run import RunRequest, run_entry_point
from dioptra_plugins.entrypoints.tracking import tracking_enabled
from dioptra_plugins.errors import TrackingError

pytest.importorskip("mlflow")


@pytest.fixture
def tracking_uri(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    uri = (tmp_path / "mlruns").as_uri()
    monkeypatch.setenv("MLFLOW_TRACKING_URI", uri)
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    for variable in ("MLFLOW_RUN_ID", "MLFLOW_EXPERIMENT_ID", "MLFLOW_EXPERIMENT_NAME"):
        monkeypatch.delenv(variable, raising=False)
    monkeypatch.delenv("DIOPTRA_PLUGIN_DIR", raising=False)
    return uri


def project(tmp_path: Path, exit_code: int) -> Path:
    return make_project(
        tmp_path / "project",
        f"""\
        name: tracked
        entry_points:
          main:
            parameters:
              epsilon: {{type: float, default: 0.1}}
            command: "{sys.executable} job.py"
        """,
        **{
            "job.py": f"""\
            import os
            print("RUN_ID=" + os.environ["MLFLOW_RUN_ID"], flush=True)
            raise SystemExit({exit_code})
            """
        },
    )


def runs(tracking_uri: str) -> list[object]:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    return list(client.search_runs(["0"]))


def test_parameters_and_lock_are_logged(
    tmp_path: Path,
    tracking_uri: str,
    synced_plugin_dir: Path,
    capfd: pytest.CaptureFixture[str],
) -> None:
    from mlflow.tracking import MlflowClient

    request = RunRequest(
        project(tmp_path, 0),
        parameters={"epsilon": "0.3", "samples": "50"},
        plugin_dir=synced_plugin_dir,
        output_dir=tmp_path / "out",
    )
    assert run_entry_point(request).exit_code == 0
    (run,) = runs(tracking_uri)
    run_id = run.info.run_id  # type: ignore[attr-defined]
    assert f"RUN_ID={run_id}" in capfd.readouterr().out
    assert run.data.params == {"epsilon": "0.3", "samples": "50"}  # type: ignore[attr-defined]
    assert run.data.tags["dioptra.plugin_generation"] == "000001"  # type: ignore[attr-defined]
    assert run.info.status == "FINISHED"  # type: ignore[attr-defined]
    client = MlflowClient(tracking_uri)
    assert {a.path for a in client.list_artifacts(run_id)} == {"pylock.toml", "run.json"}
    lock = Path(client.download_artifacts(run_id, "pylock.toml", str(tmp_path / "dl")))
    generation_lock = synced_plugin_dir / ".dioptra-plugins/generations/000001/pylock.toml"
    assert lock.read_bytes() == generation_lock.read_bytes()


def test_a_failing_command_marks_the_run_failed(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MLFLOW_EXPERIMENT_NAME", "attacks")
    assert run_entry_point(RunRequest(project(tmp_path, 2))).exit_code == 2
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    experiment = client.get_experiment_by_name("attacks")
    assert experiment is not None
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FAILED"
    assert run.data.params == {"epsilon": "0.1"}


def test_no_tracking_without_a_tracking_uri(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.chdir(tmp_path)
    assert not tracking_enabled()
    request = RunRequest(make_project(tmp_path / "p", "entry_points: {main: {command: 'true'}}"))
    assert run_entry_point(request).exit_code == 0
    assert not (tmp_path / "mlruns").exists()
    assert not (tmp_path / "p" / "mlruns").exists()


def test_broken_tracking_stops_the_run_before_the_command(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (blocker / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    monkeypatch.delenv("MLFLOW_RUN_ID", raising=False)
    project = make_project(tmp_path / "p", "entry_points: {main: {command: 'touch RAN'}}")
    with pytest.raises(TrackingError, match=r"MLflow tracking at file://.* failed"):
        run_entry_point(RunRequest(project))
    assert not (project / "RAN").exists()


def test_an_enclosing_run_is_joined_and_left_open(
    tmp_path: Path, tracking_uri: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from mlflow.tracking import MlflowClient

    client = MlflowClient(tracking_uri)
    outer = client.create_run("0", run_name="outer")
    monkeypatch.setenv("MLFLOW_RUN_ID", outer.info.run_id)
    assert run_entry_point(RunRequest(project(tmp_path, 0))).exit_code == 0
    run = client.get_run(outer.info.run_id)
    assert run.data.params == {"epsilon": "0.1"}
    assert run.info.status == "RUNNING"
    client.set_terminated(outer.info.run_id)
