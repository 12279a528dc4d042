"""Tests for dioptra_builtins.metrics.performance on hand-made label sets."""

from __future__ import annotations

import numpy as np
import pytest
from dioptra_builtins.metrics.performance import accuracy, confusion_matrix, f1, precision, recall

# Three classes. Per class: 0 -> tp 2, fp 1, fn 0; 1 -> tp 0, fp 0, fn 2; 2 -> tp 2, fp 1, fn 0.
MULTI_TRUE = [0, 1, 2, 2, 1, 0]
MULTI_PRED = [0, 2, 2, 2, 0, 0]

# Binary: tp 2, fp 1, fn 1, tn 1.
BINARY_TRUE = [1, 0, 1, 1, 0]
BINARY_PRED = [1, 1, 0, 1, 0]


def test_confusion_matrix_multiclass_rows_true_columns_predicted() -> None:
    matrix = confusion_matrix(MULTI_TRUE, MULTI_PRED)
    assert matrix.dtype == np.int64
    assert matrix.tolist() == [[2, 0, 0], [1, 0, 1], [0, 0, 2]]


def test_confusion_matrix_binary_and_explicit_label_order() -> None:
    assert confusion_matrix(BINARY_TRUE, BINARY_PRED).tolist() == [[1, 1], [1, 2]]
    assert confusion_matrix(BINARY_TRUE, BINARY_PRED, labels=[1, 0]).tolist() == [[2, 1], [1, 1]]
    # A label that never occurs still gets its row and column.
    assert confusion_matrix([0, 0], [0, 1], labels=[0, 1, 2]).tolist() == [
        [1, 1, 0],
        [0, 0, 0],
        [0, 0, 0],
    ]


def test_confusion_matrix_with_string_labels() -> None:
    matrix = confusion_matrix(["cat", "dog", "dog"], ["dog", "dog", "cat"])
    assert matrix.tolist() == [[0, 1], [1, 1]]


def test_confusion_matrix_refuses_labels_outside_the_given_ones() -> None:
    with pytest.raises(ValueError, match=r"labels \[2\] are not in labels \[0, 1\]"):
        confusion_matrix([0, 1, 2], [0, 1, 1], labels=[0, 1])
    with pytest.raises(ValueError, match="labels must be distinct"):
        confusion_matrix([0, 1], [0, 1], labels=[0, 1, 1])


def test_accuracy() -> None:
    assert accuracy(MULTI_TRUE, MULTI_PRED) == pytest.approx(4 / 6)
    assert accuracy(BINARY_TRUE, BINARY_PRED) == pytest.approx(3 / 5)
    assert accuracy([1, 2], [1, 2]) == 1.0


def test_binary_precision_recall_f1() -> None:
    assert precision(BINARY_TRUE, BINARY_PRED) == pytest.approx(2 / 3)
    assert recall(BINARY_TRUE, BINARY_PRED) == pytest.approx(2 / 3)
    assert f1(BINARY_TRUE, BINARY_PRED) == pytest.approx(2 / 3)
    # Scoring the other class: tp 1, fp 1, fn 1.
    assert precision(BINARY_TRUE, BINARY_PRED, pos_label=0) == pytest.approx(1 / 2)
    assert recall([0, 0, 1], [0, 1, 1], pos_label=0) == pytest.approx(1 / 2)


def test_binary_with_string_labels_and_asymmetric_counts() -> None:
    truth = ["cat", "cat", "cat", "dog"]
    predicted = ["cat", "dog", "dog", "cat"]
    # cat: tp 1, fp 1, fn 2.
    assert precision(truth, predicted, pos_label="cat") == pytest.approx(1 / 2)
    assert recall(truth, predicted, pos_label="cat") == pytest.approx(1 / 3)
    assert f1(truth, predicted, pos_label="cat") == pytest.approx(2 / 5)


def test_zero_denominators_score_zero() -> None:
    # No positive predicted and none present: every count is zero.
    assert precision([0, 0], [0, 0]) == 0.0
    assert recall([0, 0], [0, 0]) == 0.0
    assert f1([0, 0], [0, 0]) == 0.0


def test_multiclass_macro_micro_weighted() -> None:
    assert precision(MULTI_TRUE, MULTI_PRED, average="macro") == pytest.approx(4 / 9)
    assert recall(MULTI_TRUE, MULTI_PRED, average="macro") == pytest.approx(2 / 3)
    assert f1(MULTI_TRUE, MULTI_PRED, average="macro") == pytest.approx(8 / 15)
    # Micro-averaged scores of single-label data all equal the accuracy.
    for metric in (precision, recall, f1):
        assert metric(MULTI_TRUE, MULTI_PRED, average="micro") == pytest.approx(4 / 6)
    # Weighted by support (2 each): the same as macro here; make supports unequal too.
    assert recall(MULTI_TRUE, MULTI_PRED, average="weighted") == pytest.approx(2 / 3)
    assert recall([0, 0, 0, 1], [0, 0, 1, 1], average="weighted") == pytest.approx(
        (3 * (2 / 3) + 1 * 1.0) / 4
    )


def test_bad_inputs_are_errors_with_facts() -> None:
    with pytest.raises(ValueError, match=r"at most two classes, got \[0, 1, 2\]"):
        precision(MULTI_TRUE, MULTI_PRED)
    with pytest.raises(ValueError, match=r"pos_label=1 is not one of the labels \[2, 3\]"):
        recall([2, 3], [3, 3])
    with pytest.raises(ValueError, match="unknown average 'median'"):
        f1([0, 1], [0, 1], average="median")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"equal length, got \(2,\) and \(3,\)"):
        accuracy([0, 1], [0, 1, 1])
    with pytest.raises(ValueError, match="empty"):
        accuracy([], [])
