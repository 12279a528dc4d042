"""Tests for dioptra_builtins.tracking.log: the JSON-lines fallback and the MLflow path."""

from __future__ import annotations

import json
import sys
import types
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from dioptra_builtins.tracking.log import TrackingNotConfiguredError, log_metrics, log_params


def records(path: Path) -> list[dict[str, Any]]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture(autouse=True)
def no_tracking_configured(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)
    monkeypatch.delenv("DIOPTRA_TRACKING_FILE", raising=False)


@pytest.fixture
def without_mlflow(monkeypatch: pytest.MonkeyPatch) -> None:
    """Make ``mlflow`` unimportable, as on a worker without the extra."""
    monkeypatch.setitem(sys.modules, "mlflow", None)


@pytest.mark.usefixtures("without_mlflow")
def test_records_go_to_the_file_given_as_path(tmp_path: Path) -> None:
    target = tmp_path / "runs" / "track.jsonl"
    where = log_params({"epsilon": 0.3, "norm": "inf", "seed": np.int64(7)}, path=target)
    log_metrics({"accuracy": np.float32(0.5), "loss": 1.25}, step=3, path=target)

    assert where == str(target)
    params, metrics = records(target)
    assert params["kind"] == "params"
    assert params["values"] == {"epsilon": 0.3, "norm": "inf", "seed": 7}
    assert params["step"] is None
    assert metrics["kind"] == "metrics"
    assert metrics["values"] == {"accuracy": 0.5, "loss": 1.25}
    assert metrics["step"] == 3
    assert metrics["time"].endswith("+00:00")


@pytest.mark.usefixtures("without_mlflow")
def test_records_go_to_the_file_named_by_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "env.jsonl"
    monkeypatch.setenv("DIOPTRA_TRACKING_FILE", str(target))
    log_metrics({"a": 1})
    log_metrics({"a": 2}, step=1)
    assert [r["values"]["a"] for r in records(target)] == [1.0, 2.0]


@pytest.mark.usefixtures("without_mlflow")
def test_values_json_cannot_hold_are_kept_as_text(tmp_path: Path) -> None:
    target = tmp_path / "t.jsonl"
    log_metrics({"loss": float("nan"), "gap": float("inf")}, path=target)
    log_params({"shape": (2, 3), "where": tmp_path, "scale": float("-inf")}, path=target)
    metrics, params = records(target)
    assert metrics["values"] == {"loss": "nan", "gap": "inf"}
    assert params["values"] == {"shape": "(2, 3)", "where": str(tmp_path), "scale": "-inf"}


@pytest.mark.usefixtures("without_mlflow")
def test_nowhere_to_record_is_an_error() -> None:
    with pytest.raises(TrackingNotConfiguredError, match="DIOPTRA_TRACKING_FILE"):
        log_params({"a": 1})
    with pytest.raises(TrackingNotConfiguredError, match="nowhere to record to"):
        log_metrics({"a": 1.0})


def test_installed_but_unconfigured_mlflow_falls_back_to_the_file(tmp_path: Path) -> None:
    pytest.importorskip("mlflow")
    target = tmp_path / "t.jsonl"
    assert log_metrics({"a": 1.0}, path=target) == str(target)
    assert records(target)[0]["values"] == {"a": 1.0}


class RecordingMlflow(types.ModuleType):
    """Stands in for the ``mlflow`` module: one active run that records what it is given."""

    def __init__(self) -> None:
        super().__init__("mlflow")
        self.calls: list[tuple[str, dict[str, Any], int | None]] = []

    def active_run(self) -> Any:
        return types.SimpleNamespace(info=types.SimpleNamespace(run_id="run-42"))

    def log_params(self, params: dict[str, Any]) -> None:
        self.calls.append(("params", params, None))

    def log_metrics(self, metrics: dict[str, float], step: int | None = None) -> None:
        self.calls.append(("metrics", metrics, step))


def test_an_active_run_receives_records_without_a_tracking_uri(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    fake = RecordingMlflow()
    monkeypatch.setitem(sys.modules, "mlflow", fake)
    monkeypatch.setenv("DIOPTRA_TRACKING_FILE", str(tmp_path / "unused.jsonl"))

    assert log_params({"a": 1}) == "mlflow:run-42"
    assert log_metrics({"m": np.float64(0.5)}, step=4) == "mlflow:run-42"

    assert fake.calls == [("params", {"a": 1}, None), ("metrics", {"m": 0.5}, 4)]
    assert not (tmp_path / "unused.jsonl").exists()


@pytest.fixture
def mlflow_file_store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Any:
    mlflow = pytest.importorskip("mlflow")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", (tmp_path / "mlruns").as_uri())
    monkeypatch.setenv("MLFLOW_ALLOW_FILE_STORE", "true")
    yield mlflow
    mlflow.end_run()


def test_with_mlflow_configured_records_go_to_the_active_run(
    mlflow_file_store: Any, tmp_path: Path
) -> None:
    mlflow = mlflow_file_store
    where = log_params({"epsilon": 0.3, "norm": "inf"})
    log_metrics({"accuracy": 0.75}, step=2)
    log_metrics({"accuracy": 0.5}, step=3)

    run_id = mlflow.active_run().info.run_id
    assert where == f"mlflow:{run_id}"
    mlflow.end_run()
    client = mlflow.tracking.MlflowClient(tracking_uri=(tmp_path / "mlruns").as_uri())
    run = client.get_run(run_id)
    assert run.data.params == {"epsilon": "0.3", "norm": "inf"}
    history = client.get_metric_history(run_id, "accuracy")
    assert [(m.step, m.value) for m in history] == [(2, 0.75), (3, 0.5)]
    assert not (tmp_path / "t.jsonl").exists()


def test_an_explicit_path_wins_over_configured_mlflow(
    mlflow_file_store: Any, tmp_path: Path
) -> None:
    target = tmp_path / "t.jsonl"
    assert log_params({"a": 1}, path=target) == str(target)
    assert mlflow_file_store.active_run() is None
    assert records(target)[0]["values"] == {"a": 1}
