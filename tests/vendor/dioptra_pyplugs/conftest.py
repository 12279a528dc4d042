"""Glue for Dioptra's vendored pyplugs tests (no part of them).

The tests name Dioptra's own ``dioptra.pyplugs`` package as data: "a library package with no
plugins" (``names("dioptra.pyplugs") == []``, ``call("dioptra.pyplugs", "non_existent")`` is an
unknown plugin).  ``stand_in/`` holds such a package under that name, on ``sys.path`` only while
these tests run.  Prefect 1 warns once at import about a deprecated helper of its own.
"""

from __future__ import annotations

from pathlib import Path

import pytest

STAND_IN = Path(__file__).resolve().parent / "stand_in"


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "filterwarnings", "ignore:mypy_extensions.TypedDict is deprecated:DeprecationWarning"
    )


@pytest.fixture(autouse=True)
def _dioptra_pyplugs_stand_in(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.syspath_prepend(str(STAND_IN))
