"""Session-wide fixtures: the real S3 servers (moto, SeaweedFS) and the index_url backends.

Also the ``slow`` marker, put on the tests ``slowtests.SLOW`` lists (one place, so the list
can be read, measured and changed as a whole): ``pytest -m "not slow"`` (``make test-fast``)
is the fast subset, ``make test`` runs everything.  And hypothesis runs derandomized (its seed
derived from each test), so every run tries the same examples; ``HYPOTHESIS_PROFILE=explore``
draws afresh.
"""

from __future__ import annotations

import os

import pytest

from s3servers import *  # noqa: F403
from slowtests import SLOW


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark the tests ``SLOW`` names."""
    tests = config.rootpath / "tests"
    for item in items:
        if not item.path.is_relative_to(tests):
            continue
        module = item.path.relative_to(tests).as_posix()
        function = getattr(item, "originalname", item.name)
        if module in SLOW or f"{module}::{function}" in SLOW:
            item.add_marker(pytest.mark.slow)


try:
    from hypothesis import settings
except ImportError:  # .venv-prefect1 runs its suites without hypothesis
    pass
else:
    settings.register_profile("seeded", derandomize=True)
    settings.register_profile("explore", derandomize=False)
    settings.load_profile(os.environ.get("HYPOTHESIS_PROFILE", "seeded"))
