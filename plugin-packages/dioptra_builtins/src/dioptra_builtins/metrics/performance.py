"""Task plugins that score predicted class labels against true labels.

Labels may be any sortable values (ints, strings). ``precision``, ``recall`` and ``f1`` take an
``average``: ``"binary"`` scores the class ``pos_label`` (at most two classes allowed),
``"macro"`` averages the per-class scores, ``"weighted"`` weights them by class support and
``"micro"`` scores the pooled counts. A score whose denominator is zero is 0.0.
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dioptra_plugins import pyplugs

Average = Literal["binary", "macro", "micro", "weighted"]


@pyplugs.register
def accuracy(y_true: ArrayLike, y_pred: ArrayLike) -> float:
    """Fraction of predictions equal to the true label."""
    truth, predicted = _labels(y_true, y_pred)
    return float(np.mean(truth == predicted))


@pyplugs.register
def confusion_matrix(
    y_true: ArrayLike, y_pred: ArrayLike, labels: ArrayLike | None = None
) -> NDArray[np.int64]:
    """Count matrix: entry [i, j] is how many samples of class labels[i] got labels[j].

    ``labels`` fixes the order of the rows and columns; by default it is the sorted union of the
    labels seen. A label outside an explicit ``labels`` is an error, not silently dropped.
    """
    truth, predicted = _labels(y_true, y_pred)
    classes = np.union1d(truth, predicted) if labels is None else np.asarray(labels)
    if len(np.unique(classes)) != len(classes):
        raise ValueError(f"labels must be distinct, got {classes.tolist()}")
    unknown = np.setdiff1d(np.union1d(truth, predicted), classes)
    if unknown.size:
        raise ValueError(f"labels {unknown.tolist()} are not in labels {classes.tolist()}")
    order = np.argsort(classes)
    position = order[np.searchsorted(classes[order], truth)]
    predicted_position = order[np.searchsorted(classes[order], predicted)]
    matrix = np.zeros((len(classes), len(classes)), dtype=np.int64)
    np.add.at(matrix, (position, predicted_position), 1)
    return matrix


@pyplugs.register(sort_value=10)
def precision(
    y_true: ArrayLike, y_pred: ArrayLike, average: Average = "binary", pos_label: Any = 1
) -> float:
    """Share of predictions of a class that were right: tp / (tp + fp), averaged as asked."""
    tp, fp, _, support = _counts(y_true, y_pred, average, pos_label)
    return _average(_ratio(tp, tp + fp), tp, tp + fp, support, average)


@pyplugs.register(sort_value=10)
def recall(
    y_true: ArrayLike, y_pred: ArrayLike, average: Average = "binary", pos_label: Any = 1
) -> float:
    """Share of samples of a class that were found: tp / (tp + fn), averaged as asked."""
    tp, _, fn, support = _counts(y_true, y_pred, average, pos_label)
    return _average(_ratio(tp, tp + fn), tp, tp + fn, support, average)


@pyplugs.register(sort_value=10)
def f1(
    y_true: ArrayLike, y_pred: ArrayLike, average: Average = "binary", pos_label: Any = 1
) -> float:
    """Harmonic mean of precision and recall: 2tp / (2tp + fp + fn), averaged as asked."""
    tp, fp, fn, support = _counts(y_true, y_pred, average, pos_label)
    return _average(_ratio(2 * tp, 2 * tp + fp + fn), 2 * tp, 2 * tp + fp + fn, support, average)


def _labels(y_true: ArrayLike, y_pred: ArrayLike) -> tuple[NDArray[Any], NDArray[Any]]:
    truth = np.asarray(y_true)
    predicted = np.asarray(y_pred)
    if truth.ndim != 1 or truth.shape != predicted.shape:
        raise ValueError(
            f"need two 1-d label arrays of equal length, got {truth.shape} and {predicted.shape}"
        )
    if truth.size == 0:
        raise ValueError("cannot score empty label arrays")
    return truth, predicted


def _counts(
    y_true: ArrayLike, y_pred: ArrayLike, average: Average, pos_label: Any
) -> tuple[NDArray[np.int64], NDArray[np.int64], NDArray[np.int64], NDArray[np.int64]]:
    """Per-class true positives, false positives, false negatives and support."""
    if average not in ("binary", "macro", "micro", "weighted"):
        raise ValueError(f"unknown average {average!r}")
    truth, predicted = _labels(y_true, y_pred)
    labels = np.union1d(truth, predicted)
    scored = slice(None)
    if average == "binary":
        if len(labels) > 2:
            raise ValueError(
                f"average='binary' needs at most two classes, got {labels.tolist()}; "
                "use average='macro', 'micro' or 'weighted'"
            )
        if len(labels) == 2 and pos_label not in labels.tolist():
            raise ValueError(f"pos_label={pos_label!r} is not one of the labels {labels.tolist()}")
        # Score the positive class alone, even if it never occurs (then every count is 0).
        truth, predicted = truth == pos_label, predicted == pos_label
        labels, scored = np.array([False, True]), slice(1, 2)
    matrix = confusion_matrix(truth, predicted, labels=labels)
    tp = np.diag(matrix)
    fp = matrix.sum(axis=0) - tp
    fn = matrix.sum(axis=1) - tp
    support = matrix.sum(axis=1)
    return tp[scored], fp[scored], fn[scored], support[scored]


def _ratio(numerator: NDArray[np.int64], denominator: NDArray[np.int64]) -> NDArray[np.float64]:
    safe = np.where(denominator > 0, denominator, 1)
    return np.where(denominator > 0, numerator / safe, 0.0)


def _average(
    scores: NDArray[np.float64],
    numerator: NDArray[np.int64],
    denominator: NDArray[np.int64],
    support: NDArray[np.int64],
    average: Average,
) -> float:
    if average == "binary":
        return float(scores[0])
    if average == "micro":
        pooled = int(denominator.sum())
        return float(numerator.sum() / pooled) if pooled else 0.0
    if average == "weighted":
        total = int(support.sum())
        return float(np.sum(scores * support) / total) if total else 0.0
    return float(np.mean(scores))
