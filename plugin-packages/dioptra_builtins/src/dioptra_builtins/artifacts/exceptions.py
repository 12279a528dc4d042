"""Errors raised by the artifact plugins."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path


class UnsafeArchiveError(ValueError):
    """An archive holds members that would land outside the extraction directory."""

    def __init__(self, archive: str | Path, problems: Sequence[str]) -> None:
        self.archive = Path(archive)
        self.problems = list(problems)
        listing = "; ".join(self.problems)
        super().__init__(f"refusing to extract {self.archive}: {listing}")
