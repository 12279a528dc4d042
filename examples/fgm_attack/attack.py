"""FGM attack experiment: every step is a task plugin called through ``pyplugs.call_task``.

Run it through its MLproject (``dioptra-plugins run examples/fgm_attack ...``), which syncs the
plugin packages it needs and sets ``DIOPTRA_PLUGIN_DIR``; ``plugin_dirs()`` puts that plugin dir
(its pinned generation) on ``sys.path`` for the experiment.  Outside a workflow engine
``call_task`` calls the plugin; inside a Prefect flow it would submit a Prefect task.

Writes a JSON metrics document (accuracy on clean and adversarial data, perturbation
distances, the plugin versions used) to ``--output`` and prints a short summary.
"""

from __future__ import annotations

import json
import logging
import sys
from pathlib import Path
from typing import Any

import click

from dioptra_plugins import pyplugs
from dioptra_plugins.logging import configure
from dioptra_plugins.plugindir.syspath import plugin_dirs

logger = logging.getLogger("fgm_attack")


class IntLike(click.ParamType):  # type: ignore[type-arg]
    """An integer also accepted as ``400.0``: MLproject has no integer type, only float."""

    name = "integer"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> int:
        if isinstance(value, int):
            return value
        try:
            number = float(value)
        except ValueError:
            self.fail(f"{value!r} is not a number", param, ctx)
        if not number.is_integer():
            self.fail(f"{value!r} is not a whole number", param, ctx)
        return int(number)


INT_LIKE = IntLike()


@click.command()
@click.option("--epsilon", type=float, required=True, help="Attack strength (step size).")
@click.option("--norm", type=click.Choice(["inf", "2"]), default="inf", show_default=True)
@click.option("--samples", type=INT_LIKE, default=400, show_default=True)
@click.option("--features", type=INT_LIKE, default=2, show_default=True)
@click.option("--separation", type=float, default=3.0, show_default=True)
@click.option("--noise", type=float, default=1.0, show_default=True)
@click.option("--test-fraction", type=float, default=0.25, show_default=True)
@click.option("--seed", type=INT_LIKE, default=0, show_default=True)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path), required=True)
def main(
    epsilon: float,
    norm: str,
    samples: int,
    features: int,
    separation: float,
    noise: float,
    test_fraction: float,
    seed: int,
    output: Path,
) -> None:
    """Train a classifier on synthetic data, attack it with FGM, write the metrics."""
    configure()  # DIOPTRA_JOB_LOG_LEVEL / DIOPTRA_JOB_LOG_AS_JSON, like the worker
    with plugin_dirs() as entries:
        logger.info("plugins from %s", ", ".join(map(str, entries)) or "sys.path")
        x, y = pyplugs.call_task(
            "dioptra_examples",
            "datasets",
            "make_blobs",
            n_samples=samples,
            n_features=features,
            separation=separation,
            noise=noise,
            seed=seed,
        )
        x_train, x_test, y_train, y_test = pyplugs.call_task(
            "dioptra_examples", "datasets", "train_test_split", x, y, test_fraction, seed
        )
        model = pyplugs.call_task("dioptra_examples", "models", "train_model", x_train, y_train)
        clean = pyplugs.call_task(
            "dioptra_examples", "models", "evaluate_model", model, x_test, y_test
        )
        x_adversarial = pyplugs.call_task(
            "dioptra_examples",
            "models",
            "attack_model",
            model,
            x_test,
            y_test,
            epsilon=epsilon,
            norm=norm,
        )
        adversarial = pyplugs.call_task(
            "dioptra_examples", "models", "evaluate_model", model, x_adversarial, y_test
        )
        distances = pyplugs.call_task(
            "dioptra_examples", "models", "perturbation_distances", x_test, x_adversarial
        )
        versions = _plugin_versions("dioptra_builtins", "dioptra_examples")
    metrics = {
        "epsilon": epsilon,
        "norm": norm,
        "samples": samples,
        "test_samples": len(y_test),
        "clean": clean,
        "adversarial": adversarial,
        "accuracy_drop": clean["accuracy"] - adversarial["accuracy"],
        "perturbation": distances,
        "plugins": versions,
    }
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(json.dumps(metrics, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    click.echo(
        f"FGM (norm {norm}, epsilon {epsilon}) on {len(y_test)} test samples: "
        f"accuracy {clean['accuracy']:.3f} clean -> {adversarial['accuracy']:.3f} adversarial; "
        f"mean l2 perturbation {distances['l2_mean']:.3f}"
    )
    click.echo(f"plugins: {', '.join(f'{k} {v}' for k, v in versions.items())}")
    click.echo(f"metrics written to {output}")


def _plugin_versions(*packages: str) -> dict[str, str]:
    """``__version__`` of each plugin package, as imported (the synced generation's)."""
    return {
        name: str(getattr(sys.modules.get(name), "__version__", "unknown")) for name in packages
    }


if __name__ == "__main__":
    main()
