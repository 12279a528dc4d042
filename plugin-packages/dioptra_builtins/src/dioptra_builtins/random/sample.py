"""Task plugins that draw random integers from a numpy Generator."""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray

from dioptra_plugins import pyplugs

INT32_MAX = 2**31 - 1


@pyplugs.register
def draw_random_integer(rng: np.random.Generator, low: int = 0, high: int = INT32_MAX) -> int:
    """Draw one integer uniformly from [low, high)."""
    _check_bounds(low, high)
    return int(rng.integers(low=low, high=high))


@pyplugs.register
def draw_random_integers(
    rng: np.random.Generator, low: int = 0, high: int = INT32_MAX, size: int = 1
) -> NDArray[np.int64]:
    """Draw size integers uniformly from [low, high) as an int64 array."""
    _check_bounds(low, high)
    if size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    return rng.integers(low=low, high=high, size=size, dtype=np.int64)


def _check_bounds(low: int, high: int) -> None:
    if high <= low:
        raise ValueError(f"empty range: low={low} must be below high={high}")
