"""The console script ends the process without the interpreter's teardown once a command is
over (``cli/entry.exit_now``): exit codes, output, exit handlers and running threads must come
out exactly as from a normal exit.  Real subprocesses, each the console script's ``main``."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

# The console script's main, with what a test needs set up before it: an exit handler that
# leaves a mark, and optionally a (non-daemon) thread still working when the command ends.
LAUNCHER = """
import atexit, sys, threading, time
marks = sys.argv[1]
def mark(what):
    with open(marks, "a") as out:
        out.write(what + "\\n")
atexit.register(mark, "exit handler ran")
if sys.argv[2] == "thread":
    def work():
        time.sleep(0.5)
        mark("thread finished")
    threading.Thread(target=work).start()
sys.argv = ["dioptra-plugins", *sys.argv[3:]]
from dioptra_plugins.cli.entry import main
main()
"""


def run(
    tmp_path: Path, *args: str, thread: bool = False
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    marks = tmp_path / "marks.txt"
    done = subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(marks), "thread" if thread else "-", *args],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    return done, marks.read_text().splitlines() if marks.exists() else []


@pytest.mark.parametrize(
    ("args", "code"),
    [(("--version",), 0), (("--no-such-option",), 2), (("list", "--plugin-dir", "MISSING"), 1)],
)
def test_exit_codes_output_and_exit_handlers_are_those_of_a_normal_exit(
    tmp_path: Path, args: tuple[str, ...], code: int
) -> None:
    args = tuple(str(tmp_path / "missing") if a == "MISSING" else a for a in args)
    done, marks = run(tmp_path, *args)
    assert done.returncode == code
    assert marks == ["exit handler ran"]
    if code == 0:
        assert done.stdout.startswith("dioptra-plugins, version ")
    else:
        assert done.stderr.strip()  # the error line reached stderr before the process ended
        assert "Traceback" not in done.stderr


def test_a_json_error_document_on_a_pipe_arrives_whole(tmp_path: Path) -> None:
    """What the command wrote to a piped (block-buffered) stdout arrives before the process
    ends: a JSON document that parses."""
    plugin_dir, index = str(tmp_path / "p"), str(tmp_path / "no-index")
    done, _marks = run(
        tmp_path, "sync", "pkg", "--plugin-dir", plugin_dir, "--index", index, "--json"
    )
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["error"]


def test_a_thread_still_working_is_waited_for(tmp_path: Path) -> None:
    done, marks = run(tmp_path, "--version", thread=True)
    assert done.returncode == 0
    assert marks == ["thread finished", "exit handler ran"]
