"""Tests for dioptra_builtins.data.images: resize, rotate, normalize, rescale."""

from __future__ import annotations

import numpy as np
import pytest
from dioptra_builtins.data.images import _rotate_sampled, normalize, rescale, resize, rotate


def test_resize_nearest_upsamples_by_repeating_pixels_and_keeps_dtype() -> None:
    image = np.array([[1, 2], [3, 4]], dtype=np.uint8)
    resized = resize(image, 4, 4, method="nearest")
    assert resized.dtype == np.uint8
    assert resized.tolist() == [[1, 1, 2, 2], [1, 1, 2, 2], [3, 3, 4, 4], [3, 3, 4, 4]]


def test_resize_nearest_downsamples_by_picking_the_pixel_under_each_centre() -> None:
    image = np.arange(16).reshape(4, 4)
    assert resize(image, 2, 2, method="nearest").tolist() == [[5, 7], [13, 15]]


def test_resize_bilinear_half_pixel_aligned_known_values() -> None:
    ramp = np.array([[0.0, 1.0]])
    assert np.allclose(resize(ramp, 1, 4), [[0.0, 0.25, 0.75, 1.0]])
    # Downsampling 4 -> 2 samples halfway between pixel pairs.
    assert np.allclose(resize(np.array([[0.0, 2.0, 4.0, 6.0]]), 1, 2), [[1.0, 5.0]])


def test_resize_bilinear_to_the_same_size_is_the_identity() -> None:
    image = np.random.default_rng(0).random((5, 7, 3))
    assert np.allclose(resize(image, 5, 7), image)


def test_resize_bilinear_interpolates_in_two_dimensions() -> None:
    image = np.array([[0.0, 1.0], [2.0, 3.0]])
    resized = resize(image, 4, 4)
    # Inner 2x2 block: quarter and three-quarter points of the plane z = x + 2y.
    assert np.allclose(resized[1:3, 1:3], [[0.75, 1.25], [1.75, 2.25]])
    assert resized.dtype == np.float64


def test_resize_handles_channels_and_batches() -> None:
    batch = np.random.default_rng(1).random((3, 8, 6, 2)).astype(np.float32)
    resized = resize(batch, 4, 12)
    assert resized.shape == (3, 4, 12, 2)
    assert resized.dtype == np.float32
    # Each image in the batch is resized on its own.
    assert np.allclose(resized[1], resize(batch[1], 4, 12), atol=1e-6)
    assert resize(np.zeros((8, 6, 3)), 2, 2, method="nearest").shape == (2, 2, 3)


def test_resize_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match=r"at least 1x1, got 0x3"):
        resize(np.zeros((2, 2)), 0, 3)
    with pytest.raises(ValueError, match="unknown method 'cubic'"):
        resize(np.zeros((2, 2)), 3, 3, method="cubic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"got shape \(4,\)"):
        resize(np.zeros(4), 2, 2)


def test_rotate_quarter_turns_are_exact_and_counter_clockwise() -> None:
    image = np.array([[1, 2, 3], [4, 5, 6]])
    assert rotate(image, 90).tolist() == [[3, 6], [2, 5], [1, 4]]
    assert rotate(image, -90).tolist() == [[4, 1], [5, 2], [6, 3]]
    assert rotate(image, 180).tolist() == [[6, 5, 4], [3, 2, 1]]
    assert np.array_equal(rotate(image, 360), image)
    assert np.array_equal(rotate(image, 450), rotate(image, 90))


def test_rotate_quarter_turn_of_a_batch_swaps_height_and_width() -> None:
    batch = np.random.default_rng(2).random((2, 4, 5, 3))
    rotated = rotate(batch, 90)
    assert rotated.shape == (2, 5, 4, 3)
    assert np.array_equal(rotated[1, :, :, 2], np.rot90(batch[1, :, :, 2]))


@pytest.mark.parametrize("method", ["nearest", "bilinear"])
def test_sampled_rotation_agrees_with_the_exact_quarter_turn(method: str) -> None:
    image = np.random.default_rng(3).random((5, 5, 2))
    sampled = _rotate_sampled(image, 90.0, method, 0.0)  # type: ignore[arg-type]
    assert np.allclose(sampled, np.rot90(image), atol=1e-9)


def test_rotate_arbitrary_angle_moves_a_point_along_the_circle() -> None:
    image = np.zeros((9, 9))
    image[4, 8] = 1.0  # four pixels right of the centre (4, 4)
    rotated = rotate(image, 30, method="nearest")
    # Counter-clockwise by 30 degrees: 4*(cos 30, sin 30) = (3.46, 2) -> up 2 rows, right 3.46.
    assert rotated[2, 7] == 1.0
    assert rotated[4, 8] == 0.0
    assert rotated.shape == (9, 9)


def test_rotate_arbitrary_angle_fills_the_corners_and_keeps_the_centre() -> None:
    image = np.ones((7, 7, 1))
    rotated = rotate(image, 45, fill=-1.0)
    assert rotated.shape == (7, 7, 1)
    assert rotated[0, 0, 0] == -1.0
    assert rotated[6, 6, 0] == -1.0
    assert rotated[3, 3, 0] == pytest.approx(1.0)


def test_rotate_refuses_bad_arguments() -> None:
    with pytest.raises(ValueError, match="angle must be finite"):
        rotate(np.zeros((3, 3)), float("nan"))
    with pytest.raises(ValueError, match="unknown method"):
        rotate(np.zeros((3, 3)), 10, method="lanczos")  # type: ignore[arg-type]


def test_normalize_with_computed_per_channel_statistics() -> None:
    rng = np.random.default_rng(4)
    batch = np.stack([rng.normal(5, 2, (4, 6, 6)), rng.normal(-3, 0.5, (4, 6, 6))], axis=-1)
    normalized = normalize(batch)
    assert np.allclose(normalized.mean(axis=(0, 1, 2)), [0.0, 0.0])
    assert np.allclose(normalized.std(axis=(0, 1, 2)), [1.0, 1.0])


def test_normalize_with_given_statistics_and_a_constant_channel() -> None:
    image = np.array([[[0.0, 7.0], [2.0, 7.0]]])
    assert np.allclose(normalize(image, mean=[1.0, 7.0], std=[2.0, 1.0]), [[[-0.5, 0], [0.5, 0]]])
    # The constant second channel has no spread: it becomes zeros instead of NaN.
    assert np.array_equal(normalize(image)[..., 1], [[0.0, 0.0]])
    assert np.allclose(normalize(np.array([[1.0, 3.0]])), [[-1.0, 1.0]])


def test_normalize_refuses_non_positive_std() -> None:
    with pytest.raises(ValueError, match=r"std must be positive, got \[1.0, 0.0\]"):
        normalize(np.zeros((2, 2, 2)), mean=0.0, std=[1.0, 0.0])


def test_rescale_maps_ranges_linearly() -> None:
    pixels = np.array([[0, 51], [204, 255]], dtype=np.uint8)
    assert np.allclose(rescale(pixels), [[0.0, 0.2], [0.8, 1.0]])
    assert np.allclose(rescale(pixels, -1.0, 1.0, input_range=(0, 255)), [[-1, -0.6], [0.6, 1]])
    assert np.allclose(rescale(np.array([[10, 20]]), input_range=(0, 40)), [[0.25, 0.5]])
    assert np.array_equal(rescale(np.full((2, 2), 9.0), low=0.5), np.full((2, 2), 0.5))
    with pytest.raises(ValueError, match="reversed"):
        rescale(pixels, input_range=(1, 0))
