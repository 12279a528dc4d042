"""Tests for dioptra_builtins.random: seeded generators and integer draws."""

from __future__ import annotations

import numpy as np
import pytest
from dioptra_builtins.random.rng import init_rng
from dioptra_builtins.random.sample import draw_random_integer, draw_random_integers


def test_init_rng_with_a_seed_is_reproducible() -> None:
    seed_a, rng_a = init_rng(1234)
    seed_b, rng_b = init_rng(1234)
    assert seed_a == seed_b == 1234
    assert np.array_equal(rng_a.random(5), rng_b.random(5))
    assert np.array_equal(np.random.default_rng(1234).random(3), init_rng(1234)[1].random(3))


def test_init_rng_with_negative_seed_draws_a_seed_that_reproduces_the_generator() -> None:
    seed, rng = init_rng(-1)
    assert 0 <= seed < 2**32
    assert np.array_equal(rng.random(4), init_rng(seed)[1].random(4))
    # Fresh seeds differ between calls (collision chance 2**-32 per pair).
    assert len({init_rng()[0] for _ in range(5)}) == 5


def test_draw_random_integer_is_in_range_and_deterministic() -> None:
    draws = [draw_random_integer(init_rng(7)[1], low=10, high=13) for _ in range(3)]
    assert len(set(draws)) == 1
    rng = init_rng(7)[1]
    values = {draw_random_integer(rng, low=10, high=13) for _ in range(200)}
    assert values == {10, 11, 12}
    assert isinstance(draw_random_integer(rng), int)


def test_draw_random_integers_shape_dtype_range() -> None:
    values = draw_random_integers(init_rng(3)[1], low=-5, high=5, size=1000)
    assert values.shape == (1000,)
    assert values.dtype == np.int64
    assert values.min() == -5
    assert values.max() == 4
    assert np.array_equal(values, draw_random_integers(init_rng(3)[1], low=-5, high=5, size=1000))
    assert draw_random_integers(init_rng(3)[1], size=0).shape == (0,)


def test_draws_refuse_an_empty_range_and_negative_size() -> None:
    rng = init_rng(0)[1]
    with pytest.raises(ValueError, match="empty range: low=5 must be below high=5"):
        draw_random_integer(rng, low=5, high=5)
    with pytest.raises(ValueError, match="empty range"):
        draw_random_integers(rng, low=3, high=1)
    with pytest.raises(ValueError, match="size must be >= 0"):
        draw_random_integers(rng, size=-1)
