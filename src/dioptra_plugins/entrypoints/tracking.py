"""Recording an entry point run in MLflow, when MLflow is installed and tracking is configured.

"Configured" means ``MLFLOW_TRACKING_URI`` is set: without it MLflow would write an ``mlruns``
folder into whatever directory the run started from, which nobody asked for.  The run is
created here, before the command starts, and its id is passed to the command as
``MLFLOW_RUN_ID`` so that a script calling ``mlflow.start_run()`` logs into the same run.  When
``MLFLOW_RUN_ID`` is already set (the runner itself runs inside an MLflow run) that run is used
and left open.  The experiment comes from ``MLFLOW_EXPERIMENT_ID`` or ``MLFLOW_EXPERIMENT_NAME``
(created if needed), else MLflow's default experiment.

Tracking that is configured but fails before the command starts (no server, bad URI) stops the
run with a :class:`TrackingError`: silently losing the record is worse than not running.  A
failure after the command has run is logged and does not change the command's exit code; the
``run.json`` in the output dir still has the record.
"""

from __future__ import annotations

import importlib.util
import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from dioptra_plugins.errors import TrackingError

logger = logging.getLogger(__name__)

# MLflow's limit on a parameter value's length; longer values are cut with a marker.
_MAX_PARAM_LENGTH = 6000


def tracking_enabled() -> bool:
    """MLflow is importable and ``MLFLOW_TRACKING_URI`` is set."""
    return bool(os.environ.get("MLFLOW_TRACKING_URI")) and (
        importlib.util.find_spec("mlflow") is not None
    )


@dataclass
class TrackedRun:
    """One MLflow run the entry point logs into."""

    client: Any
    run_id: str
    owned: bool

    def environment(self) -> dict[str, str]:
        return {"MLFLOW_RUN_ID": self.run_id}

    def finish(self, exit_code: int, record_file: Path | None) -> None:
        """Log the run record and close the run (FINISHED or FAILED) unless a caller owns it.

        Never raises: the command has run, and its exit code is the result that matters.
        """
        try:
            if record_file is not None:
                self.client.log_artifact(self.run_id, str(record_file))
            if self.owned:
                status = "FINISHED" if exit_code == 0 else "FAILED"
                self.client.set_terminated(self.run_id, status=status)
        except Exception as error:
            logger.error("could not finish MLflow run %s: %s", self.run_id, error)


def start_tracked_run(
    *,
    run_name: str,
    parameters: Mapping[str, str],
    tags: Mapping[str, str],
    lock_file: Path | None,
) -> TrackedRun | None:
    """Create (or join) the MLflow run, log parameters, tags and the lock; None if disabled."""
    if not tracking_enabled():
        return None
    from mlflow.entities import Param, RunTag
    from mlflow.tracking import MlflowClient

    uri = os.environ["MLFLOW_TRACKING_URI"]
    run: TrackedRun | None = None
    try:
        client = MlflowClient()
        existing = os.environ.get("MLFLOW_RUN_ID")
        if existing:
            run = TrackedRun(client=client, run_id=existing, owned=False)
        else:
            created = client.create_run(_experiment_id(client), run_name=run_name)
            run = TrackedRun(client=client, run_id=created.info.run_id, owned=True)
        client.log_batch(
            run.run_id,
            params=[Param(key, _clip(value)) for key, value in parameters.items()],
            tags=[RunTag(key, value) for key, value in tags.items()],
        )
        if lock_file is not None:
            client.log_artifact(run.run_id, str(lock_file))
    except Exception as error:
        if run is not None:
            run.finish(exit_code=1, record_file=None)
        raise TrackingError(f"MLflow tracking at {uri} failed: {error}") from error
    logger.info("logging to MLflow run %s", run.run_id)
    return run


def _experiment_id(client: Any) -> str:
    experiment_id = os.environ.get("MLFLOW_EXPERIMENT_ID")
    if experiment_id:
        return experiment_id
    name = os.environ.get("MLFLOW_EXPERIMENT_NAME")
    if not name:
        return "0"
    experiment = client.get_experiment_by_name(name)
    if experiment is not None:
        return str(experiment.experiment_id)
    return str(client.create_experiment(name))


def _clip(value: str) -> str:
    if len(value) <= _MAX_PARAM_LENGTH:
        return value
    return value[: _MAX_PARAM_LENGTH - 3] + "..."
