"""Tests for dioptra_builtins.attacks.fgm against numpy logistic-regression models."""

from __future__ import annotations

import numpy as np
import pytest
from dioptra_builtins.attacks.fgm import fgm, logistic_loss_gradient
from dioptra_builtins.estimators.logistic import (
    LogisticRegressionModel,
    class_probabilities,
    predict,
)
from dioptra_builtins.metrics.distance import paired_l2_distances, paired_l_inf_distances

# Decision boundary x0 + x1 = 0; class 1 above it.
WEIGHTS = np.array([1.0, 1.0])
BIAS = np.array(0.0)
MODEL = LogisticRegressionModel(weights=WEIGHTS, bias=BIAS)
X = np.array([[0.1, 0.1], [-0.2, 0.05], [0.5, -0.3]])
Y = np.array([1, 0, 1])


def test_inf_norm_step_moves_every_feature_by_epsilon_across_the_boundary() -> None:
    adversarial = fgm(X, Y, WEIGHTS, BIAS, epsilon=0.3)
    # Class-1 points move down-left, the class-0 point up-right: exactly epsilon per feature.
    assert np.allclose(adversarial, [[-0.2, -0.2], [0.1, 0.35], [0.2, -0.6]])
    assert np.allclose(paired_l_inf_distances(X, adversarial), 0.3)
    assert predict(MODEL, X).tolist() == [1, 0, 1]
    assert predict(MODEL, adversarial).tolist() == [0, 1, 0]


def test_two_norm_step_has_length_epsilon_along_the_weight_direction() -> None:
    adversarial = fgm(X, Y, WEIGHTS, BIAS, epsilon=0.5, norm="2")
    assert np.allclose(paired_l2_distances(X, adversarial), 0.5)
    unit = WEIGHTS / np.linalg.norm(WEIGHTS)
    assert np.allclose(adversarial[0] - X[0], -0.5 * unit)
    assert np.allclose(adversarial[1] - X[1], 0.5 * unit)
    assert np.array_equal(fgm(X, Y, WEIGHTS, BIAS, epsilon=0.5, norm=2), adversarial)


def test_attack_raises_the_loss_of_the_true_label() -> None:
    def loss(x: np.ndarray) -> np.ndarray:
        return np.asarray(-np.log(class_probabilities(x, WEIGHTS, BIAS)[np.arange(len(Y)), Y]))

    assert np.all(loss(fgm(X, Y, WEIGHTS, BIAS, epsilon=0.1)) > loss(X))
    assert np.all(loss(fgm(X, Y, WEIGHTS, BIAS, epsilon=0.1, targeted=True)) < loss(X))


def test_targeted_attack_at_the_other_label_equals_the_untargeted_binary_attack() -> None:
    untargeted = fgm(X, Y, WEIGHTS, BIAS, epsilon=0.2)
    targeted = fgm(X, 1 - Y, WEIGHTS, BIAS, epsilon=0.2, targeted=True)
    assert np.allclose(untargeted, targeted)


def test_clip_values_keep_the_result_in_range_and_zero_epsilon_changes_nothing() -> None:
    clipped = fgm(X, Y, WEIGHTS, BIAS, epsilon=0.3, clip_values=(-0.25, 0.25))
    assert np.allclose(clipped, [[-0.2, -0.2], [0.1, 0.25], [0.2, -0.25]])
    assert np.array_equal(fgm(X, Y, WEIGHTS, BIAS, epsilon=0.0), X)


def test_softmax_gradient_matches_finite_differences() -> None:
    rng = np.random.default_rng(0)
    weights, bias = rng.normal(size=(4, 3)), rng.normal(size=3)
    x, y = rng.normal(size=(5, 4)), np.array([0, 1, 2, 1, 0])

    def loss(features: np.ndarray) -> np.ndarray:
        return np.asarray(-np.log(class_probabilities(features, weights, bias)[np.arange(5), y]))

    step = 1e-6
    numeric = np.stack(
        [(loss(x + step * e) - loss(x - step * e)) / (2 * step) for e in np.eye(4)], axis=1
    )
    assert np.allclose(logistic_loss_gradient(x, y, weights, bias), numeric, atol=1e-6)
    adversarial = fgm(x, y, weights, bias, epsilon=0.05)
    assert np.allclose(adversarial - x, 0.05 * np.sign(numeric))


def test_binary_gradient_matches_finite_differences() -> None:
    def loss(features: np.ndarray) -> np.ndarray:
        return np.asarray(-np.log(class_probabilities(features, WEIGHTS, BIAS)[np.arange(3), Y]))

    step = 1e-6
    numeric = np.stack(
        [(loss(X + step * e) - loss(X - step * e)) / (2 * step) for e in np.eye(2)], axis=1
    )
    assert np.allclose(logistic_loss_gradient(X, Y, WEIGHTS, BIAS), numeric, atol=1e-6)


def test_a_zero_gradient_leaves_the_row_unchanged_under_the_two_norm() -> None:
    zero_weights = np.zeros(2)
    assert np.array_equal(fgm(X, Y, zero_weights, BIAS, epsilon=1.0, norm="2"), X)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"epsilon": -0.1}, "epsilon must be >= 0, got -0.1"),
        ({"epsilon": 0.1, "norm": "1"}, "unsupported norm '1'"),
        ({"epsilon": 0.1, "clip_values": (1.0, 0.0)}, "clip_values is reversed"),
        ({"epsilon": 0.1, "x": np.zeros(2)}, r"x must be \(n_samples, n_features\)"),
        ({"epsilon": 0.1, "y": np.array([1, 0])}, "y must be 3 integer class indices"),
        ({"epsilon": 0.1, "y": np.array([1, 0, 2])}, r"labels must lie in 0\.\.1, got 0\.\.2"),
        ({"epsilon": 0.1, "weights": np.ones(3)}, r"weights \(3,\) do not fit 2 features"),
        ({"epsilon": 0.1, "bias": np.zeros(1)}, r"bias must have shape \(\), got \(1,\)"),
    ],
)
def test_bad_arguments_are_errors_with_facts(kwargs: dict[str, object], message: str) -> None:
    arguments: dict[str, object] = {"x": X, "y": Y, "weights": WEIGHTS, "bias": BIAS}
    arguments.update(kwargs)
    with pytest.raises(ValueError, match=message):
        fgm(**arguments)  # type: ignore[arg-type]
