"""Tests for dioptra_builtins.metrics.distance with hand-computed answers."""

from __future__ import annotations

import math

import numpy as np
import pytest
from dioptra_builtins.metrics.distance import (
    cosine_similarity,
    l1_distance,
    l2_distance,
    l_inf_distance,
    paired_cosine_similarities,
    paired_l1_distances,
    paired_l2_distances,
    paired_l_inf_distances,
)


def test_whole_array_distances_on_a_3_4_5_triangle() -> None:
    x = np.array([[0.0, 0.0]])
    y = np.array([[3.0, -4.0]])
    assert l2_distance(x, y) == 5.0
    assert l1_distance(x, y) == 7.0
    assert l_inf_distance(x, y) == 4.0
    assert l2_distance(x, x) == 0.0


def test_distances_flatten_multidimensional_arrays() -> None:
    x = np.zeros((2, 2, 2))
    y = np.ones((2, 2, 2))
    assert l1_distance(x, y) == 8.0
    assert l2_distance(x, y) == pytest.approx(math.sqrt(8))
    assert l_inf_distance(x, y) == 1.0


@pytest.mark.parametrize(
    ("x", "y", "expected"),
    [
        ([1, 0], [0, 1], 0.0),
        ([1, 1], [2, 2], 1.0),
        ([1, 2], [-1, -2], -1.0),
        ([1, 0], [1, 1], 1 / math.sqrt(2)),
        ([0, 0], [1, 1], 0.0),
    ],
)
def test_cosine_similarity_known_angles(x: list[int], y: list[int], expected: float) -> None:
    assert cosine_similarity(x, y) == pytest.approx(expected)


def test_paired_distances_are_row_wise_over_flattened_rows() -> None:
    x = np.zeros((3, 2, 2))
    y = np.stack([np.full((2, 2), 1.0), np.array([[3.0, 0.0], [0.0, -4.0]]), np.zeros((2, 2))])
    assert np.array_equal(paired_l_inf_distances(x, y), [1.0, 4.0, 0.0])
    assert np.array_equal(paired_l1_distances(x, y), [4.0, 7.0, 0.0])
    assert np.allclose(paired_l2_distances(x, y), [2.0, 5.0, 0.0])


def test_paired_cosine_similarities_per_row_with_zero_rows() -> None:
    x = np.array([[1.0, 0.0], [1.0, 1.0], [0.0, 0.0]])
    y = np.array([[0.0, 1.0], [-2.0, -2.0], [1.0, 0.0]])
    assert np.allclose(paired_cosine_similarities(x, y), [0.0, -1.0, 0.0])


def test_paired_forms_agree_with_whole_array_forms_row_by_row() -> None:
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(5, 3, 4)), rng.normal(size=(5, 3, 4))
    for metric, paired in [
        (l_inf_distance, paired_l_inf_distances),
        (l1_distance, paired_l1_distances),
        (l2_distance, paired_l2_distances),
        (cosine_similarity, paired_cosine_similarities),
    ]:
        assert np.allclose(paired(x, y), [metric(a, b) for a, b in zip(x, y, strict=True)])


@pytest.mark.parametrize(
    "metric",
    [l_inf_distance, l1_distance, l2_distance, cosine_similarity, paired_l2_distances],
)
def test_shape_mismatch_is_an_error_naming_both_shapes(metric: object) -> None:
    with pytest.raises(ValueError, match=r"shapes differ: x \(2, 3\), y \(3, 2\)"):
        metric(np.zeros((2, 3)), np.zeros((3, 2)))  # type: ignore[operator]


def test_empty_and_unbatched_inputs_are_errors() -> None:
    with pytest.raises(ValueError, match="empty"):
        l2_distance([], [])
    with pytest.raises(ValueError, match=r"non-empty batch \(n, \.\.\.\), got shape \(3,\)"):
        paired_l1_distances([1, 2, 3], [1, 2, 3])
    with pytest.raises(ValueError, match="non-empty batch"):
        paired_cosine_similarities(np.zeros((0, 2)), np.zeros((0, 2)))
