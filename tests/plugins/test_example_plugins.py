"""Tests for dioptra_examples: synthetic data and the attack experiment over dioptra_builtins."""

from __future__ import annotations

import numpy as np
import pytest
from dioptra_examples.datasets import make_blobs, train_test_split
from dioptra_examples.models import (
    attack_model,
    evaluate_model,
    perturbation_distances,
    train_model,
)


def test_make_blobs_shapes_balance_and_determinism() -> None:
    x, y = make_blobs(n_samples=300, n_features=4, n_classes=3, seed=5)
    assert x.shape == (300, 4)
    assert y.shape == (300,)
    assert y.dtype == np.int64
    assert np.bincount(y).tolist() == [100, 100, 100]
    again_x, again_y = make_blobs(n_samples=300, n_features=4, n_classes=3, seed=5)
    assert np.array_equal(x, again_x)
    assert np.array_equal(y, again_y)
    assert not np.array_equal(x, make_blobs(n_samples=300, n_features=4, n_classes=3, seed=6)[0])


def test_make_blobs_binary_centres_lie_separation_apart() -> None:
    x, y = make_blobs(n_samples=4000, separation=6.0, noise=0.5, seed=0)
    centre_0, centre_1 = x[y == 0].mean(axis=0), x[y == 1].mean(axis=0)
    assert np.linalg.norm(centre_0 - centre_1) == pytest.approx(6.0, abs=0.1)
    assert make_blobs(n_samples=10, n_features=1)[0].shape == (10, 1)


def test_make_blobs_refuses_impossible_requests() -> None:
    with pytest.raises(ValueError, match="n_classes=1"):
        make_blobs(n_classes=1)
    with pytest.raises(ValueError, match="n_samples=2, n_classes=3"):
        make_blobs(n_samples=2, n_classes=3)


def test_train_test_split_partitions_the_rows() -> None:
    x = np.arange(20, dtype=np.float64).reshape(10, 2)
    y = np.arange(10)
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_fraction=0.3, seed=1)
    assert (len(x_train), len(x_test)) == (7, 3)
    assert sorted(np.concatenate([y_train, y_test]).tolist()) == list(range(10))
    # Rows stay paired with their labels.
    assert np.array_equal(x_test[:, 0], 2 * y_test)
    assert np.array_equal(x_train[:, 1], 2 * y_train + 1)


def test_train_test_split_refuses_bad_splits() -> None:
    x, y = np.zeros((4, 2)), np.zeros(4, dtype=int)
    with pytest.raises(ValueError, match=r"strictly between 0 and 1, got 1\.0"):
        train_test_split(x, y, test_fraction=1.0)
    with pytest.raises(ValueError, match="leaves a side empty"):
        train_test_split(x, y, test_fraction=0.1)
    with pytest.raises(ValueError, match="x has 4 rows but y has 3"):
        train_test_split(x, y[:3])


def test_the_experiment_trains_evaluates_and_attacks() -> None:
    x, y = make_blobs(n_samples=400, separation=4.0, noise=1.0, seed=7)
    x_train, x_test, y_train, y_test = train_test_split(x, y, seed=7)
    model = train_model(x_train, y_train)

    clean = evaluate_model(model, x_test, y_test)
    adversarial_x = attack_model(model, x_test, y_test, epsilon=2.0)
    attacked = evaluate_model(model, adversarial_x, y_test)
    distances = perturbation_distances(x_test, adversarial_x)

    assert set(clean) == {"accuracy", "f1_macro"}
    assert clean["accuracy"] >= 0.9
    assert attacked["accuracy"] < 0.5
    assert distances["l_inf_max"] == pytest.approx(2.0)
    assert distances["l_inf_mean"] == pytest.approx(2.0)
    assert distances["l2_mean"] == pytest.approx(2 * np.sqrt(2))
    l2_attack = attack_model(model, x_test, y_test, epsilon=1.0, norm="2")
    assert perturbation_distances(x_test, l2_attack)["l2_max"] == pytest.approx(1.0)
