"""Fixtures for the entry point tests."""

from __future__ import annotations

from pathlib import Path

import pytest
from entrypoint_projects import add_generation


@pytest.fixture
def synced_plugin_dir(tmp_path: Path) -> Path:
    plugin_dir = tmp_path / "plugins"
    plugin_dir.mkdir()
    add_generation(plugin_dir, 1, "1.0.0")
    return plugin_dir
