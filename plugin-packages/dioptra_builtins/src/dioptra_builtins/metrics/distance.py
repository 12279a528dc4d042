"""Task plugins that measure how far apart two arrays are, as a whole or row by row.

The plain forms compare two arrays as flat vectors and return a float; the ``paired_`` forms
compare a batch row-wise (row i of x with row i of y, each row flattened) and return one value
per row, e.g. the size of each adversarial perturbation.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dioptra_plugins import pyplugs


@pyplugs.register
def l_inf_distance(x: ArrayLike, y: ArrayLike) -> float:
    """Largest absolute element-wise difference between x and y."""
    a, b = _flat_pair(x, y)
    return float(np.max(np.abs(a - b)))


@pyplugs.register
def l1_distance(x: ArrayLike, y: ArrayLike) -> float:
    """Sum of absolute element-wise differences between x and y."""
    a, b = _flat_pair(x, y)
    return float(np.sum(np.abs(a - b)))


@pyplugs.register
def l2_distance(x: ArrayLike, y: ArrayLike) -> float:
    """Euclidean distance between x and y viewed as flat vectors."""
    a, b = _flat_pair(x, y)
    return float(np.linalg.norm(a - b))


@pyplugs.register
def cosine_similarity(x: ArrayLike, y: ArrayLike) -> float:
    """Cosine of the angle between x and y viewed as flat vectors (0.0 if either is zero)."""
    a, b = _flat_pair(x, y)
    return float(_row_cosines(a[np.newaxis, :], b[np.newaxis, :])[0])


@pyplugs.register(sort_value=10)
def paired_l_inf_distances(x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Row-wise largest absolute difference between two batches."""
    a, b = _row_pair(x, y)
    return np.asarray(np.max(np.abs(a - b), axis=1), dtype=np.float64)


@pyplugs.register(sort_value=10)
def paired_l1_distances(x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Row-wise sum of absolute differences between two batches."""
    a, b = _row_pair(x, y)
    return np.asarray(np.sum(np.abs(a - b), axis=1), dtype=np.float64)


@pyplugs.register(sort_value=10)
def paired_l2_distances(x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Row-wise Euclidean distance between two batches."""
    a, b = _row_pair(x, y)
    return np.asarray(np.linalg.norm(a - b, axis=1), dtype=np.float64)


@pyplugs.register(sort_value=10)
def paired_cosine_similarities(x: ArrayLike, y: ArrayLike) -> NDArray[np.float64]:
    """Row-wise cosine similarity between two batches (0.0 for a zero row)."""
    a, b = _row_pair(x, y)
    return _row_cosines(a, b)


def _flat_pair(x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: x {a.shape}, y {b.shape}")
    if a.size == 0:
        raise ValueError("cannot measure the distance between empty arrays")
    return a.ravel(), b.ravel()


def _row_pair(x: ArrayLike, y: ArrayLike) -> tuple[NDArray[np.float64], NDArray[np.float64]]:
    a = np.asarray(x, dtype=np.float64)
    b = np.asarray(y, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: x {a.shape}, y {b.shape}")
    if a.ndim < 2 or a.shape[0] == 0 or a[0].size == 0:
        raise ValueError(f"paired distances need a non-empty batch (n, ...), got shape {a.shape}")
    return a.reshape(a.shape[0], -1), b.reshape(b.shape[0], -1)


def _row_cosines(a: NDArray[np.float64], b: NDArray[np.float64]) -> NDArray[np.float64]:
    norms = np.linalg.norm(a, axis=1) * np.linalg.norm(b, axis=1)
    dots = np.sum(a * b, axis=1)
    # A zero vector has no direction; follow scikit-learn and call it orthogonal to everything.
    safe = np.where(norms > 0, norms, 1.0)
    return np.where(norms > 0, dots / safe, 0.0)
