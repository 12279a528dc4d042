"""Fixtures for the registry tests: real plugin packages written into tmp_path.

Every test gets its own package names (a random suffix), so modules never clash in
``sys.modules``; they are removed from ``sys.modules`` and ``sys.path`` afterwards.  Bytecode
writing is switched *on* (the environment disables it) so that stale ``.pyc`` files exist
and a reload that trusted them would be caught.
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from registry_helpers import EventLog, PluginArea

from dioptra_plugins.registry.registry import Registry


@pytest.fixture
def area(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PluginArea]:
    monkeypatch.delenv("PYTHONDONTWRITEBYTECODE", raising=False)
    monkeypatch.setattr(sys, "dont_write_bytecode", False)
    root = tmp_path / "plugins"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    plugin_area = PluginArea(root)
    yield plugin_area
    for name in list(sys.modules):
        if name.partition(".")[0] in plugin_area.packages:
            del sys.modules[name]


@pytest.fixture
def registry() -> Registry:
    return Registry()


@pytest.fixture
def event_log(registry: Registry) -> Iterator[EventLog]:
    log = EventLog(registry)
    yield log
    log.unsubscribe()
