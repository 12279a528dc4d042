"""Tests for dioptra_builtins.estimators.logistic: training and prediction."""

from __future__ import annotations

import numpy as np
import pytest
from dioptra_builtins.estimators.logistic import (
    LogisticRegressionModel,
    class_probabilities,
    predict,
    predict_proba,
    train_logistic_regression,
)


def blobs(centres: list[list[float]], per_class: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    x = np.concatenate([rng.normal(centre, 0.3, (per_class, 2)) for centre in centres])
    y = np.repeat(np.arange(len(centres)), per_class)
    return x, y


def test_binary_model_separates_two_blobs() -> None:
    x, y = blobs([[-2.0, 0.0], [2.0, 0.0]], 50, seed=0)
    model = train_logistic_regression(x, y)
    assert model.weights.shape == (2,)
    assert model.bias.shape == ()
    assert model.n_classes == 2
    assert np.array_equal(predict(model, x), y)
    # The blobs differ along the first feature only, so that weight dominates.
    assert model.weights[0] > 5 * abs(model.weights[1])


def test_softmax_model_separates_three_blobs() -> None:
    x, y = blobs([[-3.0, 0.0], [3.0, 0.0], [0.0, 4.0]], 40, seed=1)
    model = train_logistic_regression(x, y, epochs=500)
    assert model.weights.shape == (2, 3)
    assert model.n_classes == 3
    assert np.mean(predict(model, x) == y) >= 0.98
    assert predict(model, x).dtype == np.int64


def test_training_is_deterministic() -> None:
    x, y = blobs([[-1.0, 1.0], [1.0, -1.0]], 20, seed=2)
    first = train_logistic_regression(x, y, epochs=50)
    second = train_logistic_regression(x, y, epochs=50)
    assert np.array_equal(first.weights, second.weights)
    assert np.array_equal(first.bias, second.bias)


def test_predict_proba_rows_are_distributions_matching_the_sigmoid() -> None:
    model = LogisticRegressionModel(weights=np.array([1.0, -1.0]), bias=np.array(0.5))
    x = np.array([[0.0, 0.0], [2.0, 0.0], [1000.0, -1000.0], [-1000.0, 1000.0]])
    probabilities = predict_proba(model, x)
    assert probabilities.shape == (4, 2)
    assert np.allclose(probabilities.sum(axis=1), 1.0)
    assert probabilities[0, 1] == pytest.approx(1 / (1 + np.exp(-0.5)))
    assert probabilities[1, 1] == pytest.approx(1 / (1 + np.exp(-2.5)))
    # Huge logits saturate without overflow warnings (pytest turns warnings into errors).
    assert probabilities[2].tolist() == [0.0, 1.0]
    assert probabilities[3].tolist() == [1.0, 0.0]
    assert predict(model, x).tolist() == [1, 1, 1, 0]


def test_softmax_probabilities_are_stable_for_huge_logits() -> None:
    weights = np.eye(3)[:2]  # 2 features, 3 classes
    probabilities = class_probabilities(np.array([[1e4, 0.0]]), weights, np.zeros(3))
    assert probabilities.tolist() == [[1.0, 0.0, 0.0]]


def test_l2_penalty_shrinks_weights() -> None:
    x, y = blobs([[-2.0, 0.0], [2.0, 0.0]], 30, seed=3)
    plain = train_logistic_regression(x, y, epochs=100)
    penalized = train_logistic_regression(x, y, epochs=100, l2_penalty=0.5)
    assert np.linalg.norm(penalized.weights) < np.linalg.norm(plain.weights)


def test_training_refuses_bad_inputs() -> None:
    with pytest.raises(ValueError, match=r"non-empty \(n_samples, n_features\) array, got \(3,\)"):
        train_logistic_regression(np.zeros(3), np.zeros(3, dtype=int))
    with pytest.raises(ValueError, match="y must be 2 integer class indices"):
        train_logistic_regression(np.zeros((2, 2)), np.array([0.0, 1.0]))
    with pytest.raises(ValueError, match="class indices must be >= 0, got -1"):
        train_logistic_regression(np.zeros((2, 2)), np.array([0, -1]))
