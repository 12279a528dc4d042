"""The command table: every lazily listed command exists in the module it is listed under."""

from __future__ import annotations

import importlib

import pytest

from dioptra_plugins.cli.main import COMMAND_MODULES


@pytest.mark.parametrize(("name", "module_name"), sorted(COMMAND_MODULES.items()))
def test_every_lazily_listed_command_exists(name: str, module_name: str) -> None:
    module = importlib.import_module(f"dioptra_plugins.cli.{module_name}")
    assert name in {command.name for command in module.COMMANDS}
