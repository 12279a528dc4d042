"""``init_index`` blames its parameters; the command line shows them as its flags."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

import dioptra_plugins
from dioptra_plugins.errors import UsageError

COMMAND = str(Path(sys.executable).with_name("dioptra-plugins"))


def test_signed_without_keys_names_the_parameters(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        dioptra_plugins.init_index(tmp_path / "index", signed=True)
    assert list(raised.value.parameters) == ["signed", "keys"]
    assert str(raised.value).startswith("`signed` needs `keys`")
    assert not (tmp_path / "index").exists()


def test_keys_without_signed_names_the_parameters(tmp_path: Path) -> None:
    with pytest.raises(UsageError) as raised:
        dioptra_plugins.init_index(tmp_path / "index", keys=tmp_path / "keys")
    assert "`keys` and `timestamp_expiry` go with `signed`" in str(raised.value)


def test_the_command_line_says_its_flags(tmp_path: Path) -> None:
    done = subprocess.run(
        [COMMAND, "index", "init", str(tmp_path / "index"), "--signed"],
        capture_output=True,
        text=True,
    )
    assert done.returncode == 2
    assert "error: --signed needs --keys, a key directory" in done.stderr
    assert "`" + "signed`" not in done.stderr
