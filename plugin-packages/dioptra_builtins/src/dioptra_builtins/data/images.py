"""Task plugins that resize, rotate and normalize images held in numpy arrays.

Images are channels-last: a single image is ``(H, W)`` or ``(H, W, C)``, a batch is
``(N, H, W, C)``. Pixel centres sit at integer coordinates and resampling uses half-pixel
alignment (like OpenCV and TensorFlow 2), so resizing to the same size changes nothing.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from dioptra_plugins import pyplugs

Method = Literal["nearest", "bilinear"]


@pyplugs.register
def resize(images: ArrayLike, height: int, width: int, method: Method = "bilinear") -> NDArray[Any]:
    """Resize images to height x width by nearest-neighbour or bilinear sampling.

    Nearest keeps the dtype; bilinear returns floats (float64 for integer input).
    """
    array = np.asarray(images)
    rows_axis, cols_axis = _spatial_axes(array)
    if height < 1 or width < 1:
        raise ValueError(f"target size must be at least 1x1, got {height}x{width}")
    if method == "nearest":
        rows = _nearest_sources(array.shape[rows_axis], height)
        cols = _nearest_sources(array.shape[cols_axis], width)
        return np.take(np.take(array, rows, axis=rows_axis), cols, axis=cols_axis)
    if method == "bilinear":
        # Bilinear interpolation is separable: interpolate along rows, then along columns.
        resized = _linear_along(array.astype(_float_dtype(array)), rows_axis, height)
        return _linear_along(resized, cols_axis, width)
    raise ValueError(f"unknown method {method!r}; use 'nearest' or 'bilinear'")


@pyplugs.register
def rotate(
    images: ArrayLike, angle: float, method: Method = "bilinear", fill: float = 0.0
) -> NDArray[Any]:
    """Rotate images counter-clockwise by angle degrees about their centre.

    Multiples of 90 degrees are exact (``numpy.rot90``; height and width swap for odd quarter
    turns). Any other angle keeps the shape, samples the source by ``method`` and paints pixels
    that come from outside the image with ``fill``.
    """
    array = np.asarray(images)
    rows_axis, cols_axis = _spatial_axes(array)
    if not math.isfinite(angle):
        raise ValueError(f"angle must be finite, got {angle}")
    if angle % 90 == 0:
        quarter_turns = int(angle // 90) % 4
        return np.ascontiguousarray(np.rot90(array, quarter_turns, axes=(rows_axis, cols_axis)))
    if method not in ("nearest", "bilinear"):
        raise ValueError(f"unknown method {method!r}; use 'nearest' or 'bilinear'")
    return _rotate_sampled(array, angle, method, fill)


@pyplugs.register(sort_value=10)
def normalize(
    images: ArrayLike,
    mean: float | Sequence[float] | None = None,
    std: float | Sequence[float] | None = None,
) -> NDArray[np.float64]:
    """Standardize images to (x - mean) / std, per channel.

    Missing statistics are computed from the images themselves: per channel (the last axis)
    for ``(H, W, C)`` and ``(N, H, W, C)``, over all pixels for ``(H, W)``. A channel with zero
    spread becomes all zeros.
    """
    array = np.asarray(images, dtype=np.float64)
    _spatial_axes(array)
    pooled = tuple(range(array.ndim - 1)) if array.ndim >= 3 else None
    centre = np.mean(array, axis=pooled) if mean is None else np.asarray(mean, dtype=np.float64)
    if std is None:
        spread = np.std(array, axis=pooled)
        spread = np.where(spread > 0, spread, 1.0)
    else:
        spread = np.asarray(std, dtype=np.float64)
        if np.any(spread <= 0):
            raise ValueError(f"std must be positive, got {spread.tolist()}")
    return (array - centre) / spread


@pyplugs.register(sort_value=10)
def rescale(
    images: ArrayLike,
    low: float = 0.0,
    high: float = 1.0,
    input_range: tuple[float, float] | None = None,
) -> NDArray[np.float64]:
    """Map pixel values linearly from input_range (default: their min and max) onto [low, high]."""
    array = np.asarray(images, dtype=np.float64)
    if array.size == 0:
        raise ValueError("cannot rescale an empty array")
    lowest, highest = input_range if input_range else (float(array.min()), float(array.max()))
    if highest < lowest:
        raise ValueError(f"input_range is reversed: {(lowest, highest)}")
    if highest == lowest:
        return np.full_like(array, low)
    return low + (array - lowest) * ((high - low) / (highest - lowest))


def _spatial_axes(array: NDArray[Any]) -> tuple[int, int]:
    """The (rows, columns) axes of a (H, W), (H, W, C) or (N, H, W, C) array."""
    if array.ndim == 2:
        return 0, 1
    if array.ndim in (3, 4):
        return array.ndim - 3, array.ndim - 2
    raise ValueError(f"expected (H, W), (H, W, C) or (N, H, W, C) images, got shape {array.shape}")


def _float_dtype(array: NDArray[Any]) -> np.dtype[Any]:
    return array.dtype if np.issubdtype(array.dtype, np.floating) else np.dtype(np.float64)


def _nearest_sources(size_in: int, size_out: int) -> NDArray[np.intp]:
    """Index of the source pixel whose area holds each output pixel centre."""
    centres = (np.arange(size_out) + 0.5) * (size_in / size_out)
    return np.asarray(np.minimum(np.floor(centres), size_in - 1), dtype=np.intp)


def _linear_along(array: NDArray[Any], axis: int, size_out: int) -> NDArray[Any]:
    """Linearly resample one axis to size_out samples (half-pixel aligned, edges clamped)."""
    size_in = array.shape[axis]
    positions = (np.arange(size_out) + 0.5) * (size_in / size_out) - 0.5
    positions = np.clip(positions, 0, size_in - 1)
    below = np.floor(positions).astype(np.intp)
    above = np.minimum(below + 1, size_in - 1)
    shape = [1] * array.ndim
    shape[axis] = size_out
    weight = (positions - below).reshape(shape).astype(array.dtype)
    below_values: NDArray[Any] = np.take(array, below, axis=axis)
    above_values: NDArray[Any] = np.take(array, above, axis=axis)
    return np.asarray(below_values * (1 - weight) + above_values * weight)


def _rotate_sampled(array: NDArray[Any], angle: float, method: Method, fill: float) -> NDArray[Any]:
    """Rotate by inverse mapping: find the source coordinate of every output pixel."""
    rows_axis, cols_axis = _spatial_axes(array)
    # Work on (H, W, ...) so that fancy indexing with two coordinate grids is simple.
    data = np.moveaxis(array, (rows_axis, cols_axis), (0, 1))
    height, width = data.shape[:2]
    centre_row, centre_col = (height - 1) / 2, (width - 1) / 2
    rows, cols = np.meshgrid(np.arange(height), np.arange(width), indexing="ij")
    dy, dx = rows - centre_row, cols - centre_col
    theta = math.radians(angle)
    # Rows grow downwards, so a counter-clockwise turn on screen has these signs.
    source_rows = math.sin(theta) * dx + math.cos(theta) * dy + centre_row
    source_cols = math.cos(theta) * dx - math.sin(theta) * dy + centre_col
    if method == "nearest":
        rotated = _sample(data, np.rint(source_rows), np.rint(source_cols), fill)
    else:
        rotated = _bilinear_sample(data.astype(_float_dtype(data)), source_rows, source_cols, fill)
    return np.moveaxis(rotated, (0, 1), (rows_axis, cols_axis))


def _sample(
    data: NDArray[Any], rows: NDArray[np.float64], cols: NDArray[np.float64], fill: float
) -> NDArray[Any]:
    """Pixels of data at integer coordinates; coordinates outside the image give fill."""
    height, width = data.shape[:2]
    inside = (rows >= 0) & (rows <= height - 1) & (cols >= 0) & (cols <= width - 1)
    picked = data[
        np.clip(rows, 0, height - 1).astype(np.intp), np.clip(cols, 0, width - 1).astype(np.intp)
    ]
    picked[~inside] = fill
    return picked


def _bilinear_sample(
    data: NDArray[Any], rows: NDArray[np.float64], cols: NDArray[np.float64], fill: float
) -> NDArray[Any]:
    """Bilinear blend of the four pixels around each coordinate (outside pixels count as fill)."""
    top, left = np.floor(rows), np.floor(cols)
    down, right = rows - top, cols - left
    # Broadcast the weights over any trailing channel/batch axes.
    extra = (1,) * (data.ndim - 2)
    down, right = down.reshape(down.shape + extra), right.reshape(right.shape + extra)
    return (
        _sample(data, top, left, fill) * (1 - down) * (1 - right)
        + _sample(data, top, left + 1, fill) * (1 - down) * right
        + _sample(data, top + 1, left, fill) * down * (1 - right)
        + _sample(data, top + 1, left + 1, fill) * down * right
    )
