"""Task plugins for the fast gradient method (FGM) against logistic-regression models.

The model is given by its parameters (see ``dioptra_builtins.estimators.logistic``): 1-d
``weights`` and a scalar ``bias`` for the binary sigmoid model, ``(d, k)`` weights and ``(k,)``
bias for softmax. Its cross-entropy loss has an analytic input gradient, so the attack needs no
autodiff framework.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dioptra_builtins.estimators.logistic import class_probabilities
from dioptra_plugins import pyplugs

Norm = str | float


@pyplugs.register
def fgm(
    x: ArrayLike,
    y: ArrayLike,
    weights: ArrayLike,
    bias: ArrayLike,
    epsilon: float,
    norm: Norm = "inf",
    clip_values: tuple[float, float] | None = None,
    targeted: bool = False,
) -> NDArray[np.float64]:
    """Adversarial copies of x moved epsilon along the loss gradient (inf- or 2-norm step).

    ``norm="inf"`` adds ``epsilon * sign(gradient)`` (every feature moves by epsilon);
    ``norm="2"`` adds ``epsilon`` times the unit gradient of each row. Untargeted steps raise the
    loss of the true labels ``y``; ``targeted=True`` lowers the loss of ``y`` as the target
    labels instead. ``clip_values=(low, high)`` keeps the result in the valid input range.
    """
    if epsilon < 0:
        raise ValueError(f"epsilon must be >= 0, got {epsilon}")
    gradient = logistic_loss_gradient(x, y, weights, bias)
    direction = -gradient if targeted else gradient
    order = _norm_order(norm)
    if order == np.inf:
        step = np.sign(direction)
    else:
        lengths = np.linalg.norm(direction, axis=1, keepdims=True)
        # A zero gradient has no direction: such a row is left where it is.
        step = np.where(lengths > 0, direction / np.where(lengths > 0, lengths, 1.0), 0.0)
    adversarial = np.asarray(x, dtype=np.float64) + epsilon * step
    if clip_values is not None:
        low, high = clip_values
        if high < low:
            raise ValueError(f"clip_values is reversed: {clip_values}")
        adversarial = np.clip(adversarial, low, high)
    return adversarial


@pyplugs.register(sort_value=10)
def logistic_loss_gradient(
    x: ArrayLike, y: ArrayLike, weights: ArrayLike, bias: ArrayLike
) -> NDArray[np.float64]:
    """Gradient of each row's cross-entropy loss with respect to that row of x."""
    features = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y)
    w = np.asarray(weights, dtype=np.float64)
    _check_shapes(features, labels, w, np.asarray(bias))
    probabilities = class_probabilities(features, w, bias)
    if w.ndim == 1:
        # Binary: dL/dx = (p - y) * w.
        return np.asarray((probabilities[:, 1] - labels)[:, np.newaxis] * w, dtype=np.float64)
    # Softmax: dL/dx = (p - onehot(y)) @ W.T.
    error = probabilities - np.eye(w.shape[1])[labels]
    return np.asarray(error @ w.T, dtype=np.float64)


def _norm_order(norm: Norm) -> float:
    if norm in ("inf", np.inf):
        return np.inf
    if norm in ("2", 2):
        return 2.0
    raise ValueError(f"unsupported norm {norm!r}; use 'inf' or '2'")


def _check_shapes(x: NDArray[Any], y: NDArray[Any], w: NDArray[Any], b: NDArray[Any]) -> None:
    if x.ndim != 2:
        raise ValueError(f"x must be (n_samples, n_features), got {x.shape}")
    if y.shape != (x.shape[0],) or not np.issubdtype(y.dtype, np.integer):
        raise ValueError(f"y must be {x.shape[0]} integer class indices, got shape {y.shape}")
    if w.ndim not in (1, 2) or w.shape[0] != x.shape[1]:
        raise ValueError(f"weights {w.shape} do not fit {x.shape[1]} features")
    expected_bias = () if w.ndim == 1 else (w.shape[1],)
    if b.shape != expected_bias:
        raise ValueError(f"bias must have shape {expected_bias}, got {b.shape}")
    classes = 2 if w.ndim == 1 else w.shape[1]
    if y.size and (y.min() < 0 or y.max() >= classes):
        raise ValueError(f"labels must lie in 0..{classes - 1}, got {y.min()}..{y.max()}")
