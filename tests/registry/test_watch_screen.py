"""``dioptra-plugins watch`` as a person sees it: one line per event, and the last line true.

A real ``watch`` process on real folders (and a real synced plugin dir), its output read as
it is printed, across an edit, an error, a fix, a new package and a sync (issue 25).
"""

from __future__ import annotations

import queue
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

CLI = str(Path(sys.executable).parent / "dioptra-plugins")
WAIT = 30.0  # seconds for a line to show up (a reload takes milliseconds; the box may be busy)
QUIET = 0.8  # seconds of silence after which no further line is expected

TASK = """from dioptra_plugins.pyplugs import register

@register
def {name}(x: int) -> int:
    return x
"""


class Screen:
    """The merged stdout and stderr of a running command, line by line."""

    def __init__(self, command: list[str]) -> None:
        self.process = subprocess.Popen(
            command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        self.reader = threading.Thread(target=self._read, daemon=True)
        self.reader.start()

    def _read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def expect(self, text: str) -> list[str]:
        """Every line up to and including the first that contains ``text``."""
        shown: list[str] = []
        deadline = time.monotonic() + WAIT
        while time.monotonic() < deadline:
            try:
                line = self.lines.get(timeout=0.1)
            except queue.Empty:
                continue
            shown.append(line)
            self.seen.append(line)
            if text in line:
                return shown
        raise AssertionError(f"{text!r} not shown; the screen so far: {self.seen}")

    def silence(self) -> list[str]:
        """Lines shown until nothing came for QUIET seconds."""
        shown: list[str] = []
        while True:
            try:
                line = self.lines.get(timeout=QUIET)
            except queue.Empty:
                return shown
            shown.append(line)
            self.seen.append(line)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout=WAIT)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.reader.join(timeout=WAIT)  # the pipe is at its end once the process is gone
        assert self.process.stdout is not None
        self.process.stdout.close()


@pytest.fixture
def screen_of() -> Iterator[list[Screen]]:
    screens: list[Screen] = []
    yield screens
    for screen in screens:
        screen.stop()


def _start(screens: list[Screen], *args: str) -> Screen:
    screen = Screen([CLI, "watch", *args])
    screens.append(screen)
    screen.expect("Ctrl-C to stop")
    return screen


def test_an_error_shows_once_and_its_fix_is_said(tmp_path: Path, screen_of: list[Screen]) -> None:
    (tmp_path / "mypkg").mkdir()
    (tmp_path / "mypkg" / "__init__.py").write_text("")
    tasks = tmp_path / "mypkg" / "tasks.py"
    tasks.write_text(TASK.format(name="hello"))
    screen = _start(screen_of, str(tmp_path))

    tasks.write_text(TASK.format(name="hello") + "    return (\n")
    shown = screen.expect("SyntaxError")
    shown += screen.silence()
    assert len([line for line in shown if "SyntaxError" in line]) == 1, shown
    assert not any(line.startswith("WARNING") for line in shown), shown

    tasks.write_text(TASK.format(name="hello"))  # the last good version, restored
    assert screen.expect("mypkg.tasks")[-1] == "fixed   mypkg.tasks: loads again"


def test_a_package_created_while_watching_is_loaded(
    tmp_path: Path, screen_of: list[Screen]
) -> None:
    root = tmp_path / "plugins"
    (root / "first").mkdir(parents=True)
    (root / "first" / "tasks.py").write_text(TASK.format(name="one"))
    screen = _start(screen_of, str(root))

    (root / "made").mkdir()  # files appear one by one, __init__ last (as an editor makes them)
    (root / "made" / "tasks.py").write_text(TASK.format(name="made_here"))
    (root / "made" / "__init__.py").write_text("")
    assert "added made_here" in screen.expect("made.tasks")[-1]

    staged = tmp_path / "staged" / "moved"
    staged.mkdir(parents=True)
    (staged / "tasks.py").write_text(TASK.format(name="moved_in"))
    shutil.move(str(staged), str(root / "moved"))  # a whole folder at once (mv, git checkout)
    assert "added moved_in" in screen.expect("moved.tasks")[-1]


def test_a_sync_removing_a_package_says_so_once(tmp_path: Path, screen_of: list[Screen]) -> None:
    for name in ("pa", "pb"):
        package = tmp_path / "src" / name
        (package / "sub").mkdir(parents=True)
        (package / "__init__.py").write_text("")
        (package / "sub" / "__init__.py").write_text("")
        (package / "helpers.py").write_text("X = 1\n")
        (package / "sub" / "tasks.py").write_text(TASK.format(name=f"t_{name}"))
        subprocess.run(
            [CLI, "build", str(package), "--version", "1.0", "-o", str(tmp_path / "dist"), "-q"],
            check=True,
        )
    index, plugins = str(tmp_path / "index"), str(tmp_path / "plugins")
    wheels = sorted(str(w) for w in (tmp_path / "dist").glob("*.whl"))
    subprocess.run([CLI, "publish", *wheels, "--index", index, "-q"], check=True)
    place = ["--index", index, "--plugin-dir", plugins, "-q"]
    subprocess.run([CLI, "sync", "pa", "pb", *place], check=True)
    screen = _start(screen_of, plugins)

    subprocess.run([CLI, "sync", "pa", *place], check=True)
    shown = screen.expect("removed pb")
    shown += screen.silence()
    assert shown == ["removed pb: unregistered t_pb"]

    subprocess.run([CLI, "sync", "pa", "pb", *place], check=True)
    shown = screen.expect("pb.sub.tasks")
    shown += screen.silence()
    assert shown == ["reload  pb.sub.tasks: added t_pb"]
