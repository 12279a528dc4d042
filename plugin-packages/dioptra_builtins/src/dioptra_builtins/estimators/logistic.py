"""Task plugins for a small logistic-regression classifier written in numpy.

Two classes give the binary model (``weights`` of shape ``(d,)``, a scalar ``bias``, sigmoid);
more give the softmax model (``weights`` ``(d, k)``, ``bias`` ``(k,)``). Labels are the class
indices ``0 .. k-1``. Training is deterministic full-batch gradient descent from zeros, so the
same data always gives the same model.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dioptra_plugins import pyplugs


@dataclass(frozen=True)
class LogisticRegressionModel:
    """Parameters of a trained logistic-regression classifier."""

    weights: NDArray[np.float64]
    bias: NDArray[np.float64]

    @property
    def n_classes(self) -> int:
        return 2 if self.weights.ndim == 1 else int(self.weights.shape[1])


@pyplugs.register
def train_logistic_regression(
    x: ArrayLike,
    y: ArrayLike,
    learning_rate: float = 0.5,
    epochs: int = 300,
    l2_penalty: float = 0.0,
) -> LogisticRegressionModel:
    """Fit a logistic-regression classifier to features x (n, d) and class indices y (n,)."""
    features = _features(x)
    labels = np.asarray(y)
    if labels.shape != (features.shape[0],) or not np.issubdtype(labels.dtype, np.integer):
        raise ValueError(f"y must be {features.shape[0]} integer class indices, got {labels.shape}")
    if labels.min() < 0:
        raise ValueError(f"class indices must be >= 0, got {labels.min()}")
    n_classes = max(int(labels.max()) + 1, 2)
    n_samples, n_features = features.shape
    if n_classes == 2:
        weights: NDArray[np.float64] = np.zeros(n_features)
        bias: NDArray[np.float64] = np.zeros(())
        target = labels.astype(np.float64)
    else:
        weights = np.zeros((n_features, n_classes))
        bias = np.zeros(n_classes)
        target = np.eye(n_classes)[labels]
    for _ in range(epochs):
        probabilities = class_probabilities(features, weights, bias)
        # d(cross-entropy)/d(logits) is probabilities - target, for sigmoid and softmax alike.
        error = (probabilities[:, 1] if n_classes == 2 else probabilities) - target
        weights = weights - learning_rate * (features.T @ error / n_samples + l2_penalty * weights)
        bias = bias - learning_rate * error.mean(axis=0)
    return LogisticRegressionModel(weights=weights, bias=bias)


@pyplugs.register
def predict_proba(model: LogisticRegressionModel, x: ArrayLike) -> NDArray[np.float64]:
    """Class probabilities (n, k) of each row of x; column i is class index i."""
    return class_probabilities(_features(x), model.weights, model.bias)


@pyplugs.register
def predict(model: LogisticRegressionModel, x: ArrayLike) -> NDArray[np.int64]:
    """Most probable class index of each row of x."""
    return np.asarray(np.argmax(predict_proba(model, x), axis=1), dtype=np.int64)


def class_probabilities(
    features: NDArray[np.float64], weights: NDArray[Any], bias: ArrayLike
) -> NDArray[np.float64]:
    """Probabilities (n, k) under weights/bias: sigmoid for 1-d weights, else softmax."""
    logits = features @ weights + np.asarray(bias, dtype=np.float64)
    if np.ndim(weights) == 1:
        # tanh form of the sigmoid: no overflow for large |logits|.
        positive = 0.5 * (1.0 + np.tanh(0.5 * logits))
        return np.column_stack([1.0 - positive, positive])
    shifted = np.exp(logits - logits.max(axis=1, keepdims=True))
    return np.asarray(shifted / shifted.sum(axis=1, keepdims=True), dtype=np.float64)


def _features(x: ArrayLike) -> NDArray[np.float64]:
    features = np.asarray(x, dtype=np.float64)
    if features.ndim != 2 or features.shape[0] == 0:
        raise ValueError(
            f"x must be a non-empty (n_samples, n_features) array, got {features.shape}"
        )
    return features
