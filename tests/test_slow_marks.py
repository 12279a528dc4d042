"""The ``slow`` list (tests/slowtests.py) names tests that exist, and they get the marker.

A renamed or moved test would silently leave the list and join the fast subset; this says so.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest

from slowtests import SLOW

TESTS = Path(__file__).resolve().parent


@pytest.mark.parametrize("entry", sorted(SLOW))
def test_every_entry_names_a_test(entry: str) -> None:
    module, _, function = entry.partition("::")
    path = TESTS / module
    assert path.is_file(), f"tests/slowtests.py names {module}, which does not exist"
    if function:
        source = path.read_text()
        assert re.search(rf"^(async )?def {re.escape(function)}\(", source, re.MULTILINE), (
            f"tests/slowtests.py names {entry}, which is not a test function there"
        )


def test_every_listed_test_is_marked(request: pytest.FixtureRequest) -> None:
    """Over the tests this run collected (all, one file, or the fast subset)."""
    for item in request.session.items:
        if not item.path.is_relative_to(TESTS):
            continue
        module = item.path.relative_to(TESTS).as_posix()
        function = getattr(item, "originalname", item.name)
        listed = module in SLOW or f"{module}::{function}" in SLOW
        if listed:
            assert item.get_closest_marker("slow") is not None, item.nodeid
