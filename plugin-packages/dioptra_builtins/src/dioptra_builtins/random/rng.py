"""Task plugin that creates a seeded numpy random generator."""

from __future__ import annotations

import numpy as np

from dioptra_plugins import pyplugs


@pyplugs.register
def init_rng(seed: int = -1) -> tuple[int, np.random.Generator]:
    """Create a numpy Generator from a seed, drawing a fresh seed when seed is negative.

    The seed actually used is returned with the generator so that a run can record it and be
    reproduced exactly.
    """
    if seed < 0:
        seed = int(np.random.SeedSequence().generate_state(1, dtype=np.uint32)[0])
    return seed, np.random.default_rng(seed)
