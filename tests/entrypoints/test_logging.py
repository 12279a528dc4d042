"""logging.configure(): JSON lines, level and format from the environment, one handler only."""

from __future__ import annotations

import io
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from dioptra_plugins.errors import UsageError
from dioptra_plugins.logging import configure


@pytest.fixture(autouse=True)
def _restore_root_logger(monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    monkeypatch.delenv("DIOPTRA_JOB_LOG_LEVEL", raising=False)
    monkeypatch.delenv("DIOPTRA_JOB_LOG_AS_JSON", raising=False)
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)


def test_json_lines_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIOPTRA_JOB_LOG_AS_JSON", "true")
    monkeypatch.setenv("DIOPTRA_JOB_LOG_LEVEL", "info")
    stream = io.StringIO()
    configure(stream=stream)
    logging.getLogger("job.step").info("epsilon %s", 0.1)
    logging.getLogger("job.step").debug("not shown")
    try:
        raise ValueError("boom")
    except ValueError:
        logging.getLogger("job").exception("failed")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2
    first, second = (json.loads(line) for line in lines)
    assert first["level"] == "info"
    assert first["logger"] == "job.step"
    assert first["message"] == "epsilon 0.1"
    assert first["time"].endswith("Z")
    assert second["level"] == "error"
    assert "ValueError: boom" in second["exception"]


def test_plain_text_and_warning_by_default() -> None:
    stream = io.StringIO()
    configure(stream=stream)
    logging.getLogger("job").info("hidden")
    logging.getLogger("job").warning("shown")
    assert stream.getvalue() == "WARNING job: shown\n"


@pytest.mark.parametrize(("value", "level"), [("DEBUG", 10), ("error", 40), ("15", 15)])
def test_level_names_and_numbers(monkeypatch: pytest.MonkeyPatch, value: str, level: int) -> None:
    monkeypatch.setenv("DIOPTRA_JOB_LOG_LEVEL", value)
    configure(stream=io.StringIO())
    assert logging.getLogger().level == level


def test_unknown_level_is_a_clear_error(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIOPTRA_JOB_LOG_LEVEL", "loud")
    with pytest.raises(UsageError, match="unknown log level 'LOUD'"):
        configure(stream=io.StringIO())


def test_explicit_arguments_win_over_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("DIOPTRA_JOB_LOG_AS_JSON", "1")
    monkeypatch.setenv("DIOPTRA_JOB_LOG_LEVEL", "DEBUG")
    stream = io.StringIO()
    configure(level=logging.ERROR, as_json=False, stream=stream)
    logging.getLogger("x").warning("hidden")
    logging.getLogger("x").error("plain")
    assert stream.getvalue() == "ERROR x: plain\n"


def test_configuring_twice_keeps_one_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure(stream=first)
    configure(stream=second)
    logging.getLogger("x").warning("once")
    assert first.getvalue() == ""
    assert second.getvalue() == "WARNING x: once\n"
    named = [h for h in logging.getLogger().handlers if h.get_name() == "dioptra_plugins"]
    assert len(named) == 1


def test_cli_log_json_keeps_stdout_clean_and_reaches_the_job(tmp_path: Path) -> None:
    # -v --log-json: every stderr line, the job's included, is a JSON object at INFO or above;
    # stdout holds only what the command printed.
    project = tmp_path / "p"
    project.mkdir()
    (project / "MLproject").write_text("entry_points: {main: {command: 'python job.py'}}\n")
    (project / "job.py").write_text(
        "import logging\n"
        "from dioptra_plugins.logging import configure\n"
        "configure()\n"
        "logging.getLogger('job').info('from the job')\n"
        "logging.getLogger('job').debug('too detailed')\n"
        "print('out')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIOPTRA_")}
    done = subprocess.run(
        [sys.executable, "-m", "dioptra_plugins", "-v", "--log-json", "run", str(project)],
        capture_output=True,
        text=True,
        timeout=60,
        env=env,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "out\n"
    records = [json.loads(line) for line in done.stderr.splitlines()]
    assert any("running in" in record["message"] for record in records)
    assert {"logger": "job", "message": "from the job"}.items() <= next(
        record for record in records if record["logger"] == "job"
    ).items()
    assert all(record["message"] != "too detailed" for record in records)
