"""Task plugins for the example experiment: train, evaluate and attack a classifier.

They compose task plugins of ``dioptra_builtins``, so this package depends on it.
"""

from __future__ import annotations

import numpy as np
from dioptra_builtins.attacks.fgm import fgm
from dioptra_builtins.estimators.logistic import (
    LogisticRegressionModel,
    predict,
    train_logistic_regression,
)
from dioptra_builtins.metrics.distance import paired_l2_distances, paired_l_inf_distances
from dioptra_builtins.metrics.performance import accuracy, f1
from numpy.typing import ArrayLike, NDArray

from dioptra_plugins import pyplugs


@pyplugs.register
def train_model(
    x: ArrayLike, y: ArrayLike, learning_rate: float = 0.5, epochs: int = 300
) -> LogisticRegressionModel:
    """Train the example logistic-regression classifier on (x, y)."""
    return train_logistic_regression(x, y, learning_rate=learning_rate, epochs=epochs)


@pyplugs.register
def evaluate_model(model: LogisticRegressionModel, x: ArrayLike, y: ArrayLike) -> dict[str, float]:
    """Accuracy and macro F1 of the model on (x, y)."""
    predicted = predict(model, x)
    return {
        "accuracy": accuracy(y, predicted),
        "f1_macro": f1(y, predicted, average="macro"),
    }


@pyplugs.register(sort_value=10)
def attack_model(
    model: LogisticRegressionModel,
    x: ArrayLike,
    y: ArrayLike,
    epsilon: float,
    norm: str = "inf",
) -> NDArray[np.float64]:
    """Adversarial copies of x crafted by FGM against the model."""
    return fgm(x, y, model.weights, model.bias, epsilon=epsilon, norm=norm)


@pyplugs.register(sort_value=10)
def perturbation_distances(x: ArrayLike, x_adversarial: ArrayLike) -> dict[str, float]:
    """Mean and largest l_inf and l2 size of the perturbations x_adversarial - x."""
    l_inf = paired_l_inf_distances(x, x_adversarial)
    l2 = paired_l2_distances(x, x_adversarial)
    return {
        "l_inf_mean": float(l_inf.mean()),
        "l_inf_max": float(l_inf.max()),
        "l2_mean": float(l2.mean()),
        "l2_max": float(l2.max()),
    }
