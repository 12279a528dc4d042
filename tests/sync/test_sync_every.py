"""``sync --every`` prints a heartbeat per interval: a monitor tells idle from hung (issue 25)."""

from __future__ import annotations

import json
import re
import signal
import subprocess
from pathlib import Path

import pytest
from synchelpers import CLI, publish_wheels

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ ")


@pytest.fixture
def keeper(wheels: dict[str, Path], tmp_path: Path) -> tuple[Path, list[str]]:
    index = tmp_path / "index"
    publish_wheels(str(index), [wheels["alpha-1.0.0"], wheels["beta-1.0.0"]])
    command = [CLI, "sync", "beta", "--every", "0.1", "--index", str(index)]
    return index, [*command, "--plugin-dir", str(tmp_path / "plugins")]


def _start(command: list[str]) -> subprocess.Popen[str]:
    return subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _stop(process: subprocess.Popen[str]) -> tuple[str, str]:
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=30)
    assert process.returncode == 0, err
    assert "Traceback" not in err
    return out, err


def test_json_prints_one_object_per_interval_idle_included(
    keeper: tuple[Path, list[str]],
) -> None:
    index, command = keeper
    process = _start([*command, "--json"])
    try:
        assert process.stdout is not None
        lines = [json.loads(process.stdout.readline()) for _ in range(4)]
        assert [line["event"] for line in lines] == ["sync"] * 4
        assert [line["switched"] for line in lines] == [True, False, False, False]
        assert all(TIME.match(line["time"] + " ") for line in lines)
        assert lines[1]["generation"] == lines[0]["generation"]

        (index / "index.json").write_bytes(b"{ damaged")  # a broken index: reported, kept going
        event = json.loads(process.stdout.readline())
        while event["event"] == "sync":
            event = json.loads(process.stdout.readline())
        assert event["event"] == "error"
        assert event["kind"] == "IndexFormatError"
        assert event["exit_code"] == 1
        assert event["details"] == {}  # an error of words only: no facts, but the key is there
    finally:
        out, err = _stop(process)
    assert "sync failed (plugin dir unchanged)" in err
    for line in out.splitlines():
        json.loads(line)  # stdout holds JSON lines only


def test_text_prints_a_timed_line_per_interval(keeper: tuple[Path, list[str]]) -> None:
    _index, command = keeper
    process = _start(command)
    try:
        assert process.stdout is not None
        lines = [process.stdout.readline() for _ in range(3)]
    finally:
        _stop(process)
    assert all(TIME.match(line) for line in lines), lines
    assert "installed alpha 1.0.0" in lines[0]
    assert "up to date: generation 000001" in lines[1]
    assert "up to date: generation 000001" in lines[2]


def test_the_progress_line_shows_the_time_left(capsys: pytest.CaptureFixture[str]) -> None:
    from dioptra_plugins.cli.sync_commands import _StatusLine

    now = [100.0]
    line = _StatusLine(clock=lambda: now[0])
    line.bytes(0, 3_000_000)  # packages not known yet: nothing drawn
    assert capsys.readouterr().err == ""
    line.packages(0, 2)
    now[0] = 102.0
    line.bytes(1_000_000, 3_000_000)  # 1 MB in 2 s: 2 MB left take 4 s
    shown = capsys.readouterr().err
    assert shown.endswith("\r0/2 packages, 1.0/3.0 MB, 0.5 MB/s, ETA 0:04")
    now[0] = 106.0
    line.bytes(3_000_000, 3_000_000)
    shown = capsys.readouterr().err
    assert "ETA" not in shown
    assert "verifying and extracting" in shown
