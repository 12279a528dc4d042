"""Task plugins that make synthetic classification data and split it."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dioptra_plugins import pyplugs


@pyplugs.register
def make_blobs(
    n_samples: int = 200,
    n_features: int = 2,
    n_classes: int = 2,
    separation: float = 3.0,
    noise: float = 1.0,
    seed: int = 0,
) -> tuple[NDArray[np.float64], NDArray[np.int64]]:
    """Gaussian blobs, one per class: features x (n, d) and class indices y (n,).

    Class centres lie on a circle of radius ``separation / 2`` in the first two features (on a
    line when there is only one feature), so ``separation`` is the distance between the two
    centres of a binary problem. Samples are shuffled; the same seed gives the same data.
    """
    if n_samples < n_classes or n_classes < 2 or n_features < 1:
        raise ValueError(
            f"need n_samples >= n_classes >= 2 and n_features >= 1, got "
            f"n_samples={n_samples}, n_classes={n_classes}, n_features={n_features}"
        )
    rng = np.random.default_rng(seed)
    angles = 2 * np.pi * np.arange(n_classes) / n_classes
    centres = np.zeros((n_classes, n_features))
    centres[:, 0] = np.cos(angles) * separation / 2
    if n_features > 1:
        centres[:, 1] = np.sin(angles) * separation / 2
    labels = np.arange(n_samples, dtype=np.int64) % n_classes
    rng.shuffle(labels)
    features = centres[labels] + rng.normal(scale=noise, size=(n_samples, n_features))
    return features, labels


@pyplugs.register
def train_test_split(
    x: ArrayLike, y: ArrayLike, test_fraction: float = 0.25, seed: int = 0
) -> tuple[NDArray[np.float64], NDArray[np.float64], NDArray[np.int64], NDArray[np.int64]]:
    """Shuffle and split (x, y) into x_train, x_test, y_train, y_test."""
    features = np.asarray(x, dtype=np.float64)
    labels = np.asarray(y, dtype=np.int64)
    if features.shape[0] != labels.shape[0]:
        raise ValueError(f"x has {features.shape[0]} rows but y has {labels.shape[0]}")
    if not 0 < test_fraction < 1:
        raise ValueError(f"test_fraction must lie strictly between 0 and 1, got {test_fraction}")
    n_test = round(features.shape[0] * test_fraction)
    if n_test == 0 or n_test == features.shape[0]:
        raise ValueError(f"a {test_fraction} split of {features.shape[0]} rows leaves a side empty")
    order = np.random.default_rng(seed).permutation(features.shape[0])
    test, train = order[:n_test], order[n_test:]
    return features[train], features[test], labels[train], labels[test]
