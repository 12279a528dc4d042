"""Conventions every shipped plugin module keeps: registered, typed, documented, light."""

from __future__ import annotations

import inspect
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from shipped_plugins import PLUGIN_MODULES, SOURCE_DIRS, public_functions, registered_tasks

from dioptra_plugins.pyplugs import plugin_mark

# Public helpers that are deliberately not task plugins.
NOT_PLUGINS = {("dioptra_builtins.estimators.logistic", "class_probabilities")}


def test_every_public_function_of_a_plugin_module_is_registered() -> None:
    unregistered = {
        (module.__name__, name)
        for module in PLUGIN_MODULES
        for name, function in public_functions(module)
        if plugin_mark(function) is None
    }
    assert unregistered == NOT_PLUGINS


def test_the_expected_task_plugins_exist() -> None:
    names = {f"{module.rsplit('.', 1)[-1]}.{name}" for module, name, _ in registered_tasks()}
    expected = {
        "utils.make_directories",
        "utils.extract_tarfile",
        "rng.init_rng",
        "sample.draw_random_integer",
        "sample.draw_random_integers",
        "distance.l_inf_distance",
        "distance.l1_distance",
        "distance.l2_distance",
        "distance.cosine_similarity",
        "distance.paired_l_inf_distances",
        "distance.paired_l2_distances",
        "performance.accuracy",
        "performance.precision",
        "performance.recall",
        "performance.f1",
        "performance.confusion_matrix",
        "images.resize",
        "images.rotate",
        "images.normalize",
        "fgm.fgm",
        "log.log_params",
        "log.log_metrics",
        "logistic.train_logistic_regression",
        "logistic.predict_proba",
        "logistic.predict",
        "datasets.make_blobs",
        "models.train_model",
    }
    assert expected <= names
    sort_values = {plugin_mark(f).sort_value for _, _, f in registered_tasks()}  # type: ignore[union-attr]
    assert {0, 10} <= sort_values


@pytest.mark.parametrize(
    ("module", "name", "function"),
    registered_tasks(),
    ids=lambda v: v if isinstance(v, str) else "",
)
def test_every_plugin_is_typed_and_documented(
    module: str, name: str, function: Callable[..., Any]
) -> None:
    signature = inspect.signature(function)
    missing = [p for p in signature.parameters.values() if p.annotation is inspect.Parameter.empty]
    assert missing == [], f"{module}.{name}: untyped parameters {missing}"
    assert signature.return_annotation is not inspect.Signature.empty, f"{module}.{name}"
    doc = inspect.getdoc(function)
    assert doc, f"{module}.{name} has no docstring"
    assert doc.splitlines()[0].strip().endswith("."), f"{module}.{name}: {doc.splitlines()[0]}"


def test_plugin_modules_import_nothing_heavy(tmp_path: Path) -> None:
    """Importing every plugin module, and tracking to a file, loads no heavy library.

    MLflow is installed in the test environment but not configured here, so tracking must
    fall back to the file without importing it.
    """
    names = [m.__name__ for m in PLUGIN_MODULES]
    script = (
        "import sys\n"
        f"for name in {names!r}: __import__(name)\n"
        "sys.modules['dioptra_builtins.tracking.log'].log_metrics({'a': 1.0})\n"
        "heavy = {'mlflow', 'prefect', 'boto3', 'tensorflow', 'torch', 'sklearn', 'scipy'}\n"
        "print(sorted(heavy & {m.split('.')[0] for m in sys.modules}))\n"
    )
    tracking_file = tmp_path / "track.jsonl"
    result = subprocess.run(
        [sys.executable, "-c", script],
        capture_output=True,
        text=True,
        check=True,
        env={
            "PYTHONPATH": ":".join(SOURCE_DIRS),
            "PYTHONDONTWRITEBYTECODE": "1",
            "DIOPTRA_TRACKING_FILE": str(tracking_file),
        },
    )
    assert result.stdout.strip() == "[]"
    assert tracking_file.read_text().count("\n") == 1
