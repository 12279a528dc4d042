"""Task plugins that record a run's parameters and metrics.

Where a record goes, first match wins:

1. an explicit ``path`` argument: that JSON-lines file (the caller asked for it);
2. MLflow, when it is installed and either a run is active or ``MLFLOW_TRACKING_URI`` is set;
3. the JSON-lines file named by ``$DIOPTRA_TRACKING_FILE``.

With none of these there is nowhere to record to, which is an error rather than a silent loss.
Each JSON-lines record is one line, ``{"time", "kind", "values", "step"}``, appended with a
single write so that concurrent writers never interleave within a line.
"""

from __future__ import annotations

import importlib.util
import json
import logging
import math
import os
import sys
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, SupportsFloat

from dioptra_plugins import pyplugs

LOGGER = logging.getLogger(__name__)

TRACKING_FILE_VARIABLE = "DIOPTRA_TRACKING_FILE"


class TrackingNotConfiguredError(RuntimeError):
    """No MLflow run, no tracking URI and no tracking file: nowhere to record to."""


@pyplugs.register
def log_params(params: Mapping[str, Any], path: str | Path | None = None) -> str:
    """Record run parameters; returns where they went (a file path or ``mlflow:<run id>``)."""
    values = {str(key): _param_value(value) for key, value in params.items()}
    if path is None and _mlflow_configured():
        import mlflow  # deferred: importing MLflow takes seconds and most runs do not need it

        mlflow.log_params(values)
        return _mlflow_destination(mlflow)
    return _append(_tracking_file(path), "params", values, step=None)


@pyplugs.register
def log_metrics(
    metrics: Mapping[str, SupportsFloat], step: int | None = None, path: str | Path | None = None
) -> str:
    """Record run metrics at an optional step; returns where they went."""
    values = {str(key): float(value) for key, value in metrics.items()}
    if path is None and _mlflow_configured():
        import mlflow  # deferred, see log_params

        mlflow.log_metrics(values, step=step)
        return _mlflow_destination(mlflow)
    recorded = {key: _json_float(value) for key, value in values.items()}
    return _append(_tracking_file(path), "metrics", recorded, step=step)


def _mlflow_configured() -> bool:
    # A run can only be active if something imported mlflow already; checking sys.modules
    # spares the seconds an import costs on workers that have MLflow but do not use it.
    loaded = sys.modules.get("mlflow")
    if loaded is not None and loaded.active_run() is not None:
        return True
    if not os.environ.get("MLFLOW_TRACKING_URI"):
        return False
    return importlib.util.find_spec("mlflow") is not None


def _mlflow_destination(mlflow: Any) -> str:
    run = mlflow.active_run()
    return f"mlflow:{run.info.run_id}" if run is not None else "mlflow"


def _tracking_file(path: str | Path | None) -> Path:
    chosen = path if path is not None else os.environ.get(TRACKING_FILE_VARIABLE)
    if not chosen:
        raise TrackingNotConfiguredError(
            "nowhere to record to: pass path=, set $DIOPTRA_TRACKING_FILE, "
            "or install MLflow and set MLFLOW_TRACKING_URI / start a run"
        )
    return Path(chosen)


def _append(file: Path, kind: str, values: Mapping[str, Any], step: int | None) -> str:
    record = {
        "time": datetime.now(UTC).isoformat(),
        "kind": kind,
        "values": dict(values),
        "step": step,
    }
    line = json.dumps(record, sort_keys=True, allow_nan=False) + "\n"
    file.parent.mkdir(parents=True, exist_ok=True)
    # O_APPEND + one write: lines from concurrent writers never interleave.
    descriptor = os.open(file, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(descriptor, line.encode("utf-8"))
    finally:
        os.close(descriptor)
    LOGGER.debug("recorded %d %s in %s", len(values), kind, file)
    return str(file)


def _param_value(value: Any) -> Any:
    """Parameters as JSON scalars; anything else (arrays, paths) as its text, as MLflow does."""
    if isinstance(value, bool | int | str) or value is None:
        return value
    if isinstance(value, float):
        return _json_float(value)
    if hasattr(value, "item") and getattr(value, "ndim", None) == 0:
        return _param_value(value.item())
    return str(value)


def _json_float(value: float) -> float | str:
    # JSON has no NaN or infinity; keep them readable instead of dropping the metric.
    return value if math.isfinite(value) else str(value)
