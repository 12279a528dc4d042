"""Running hatchling's PEP 517 ``build_wheel`` hook: in a process of its own per build, or in a
few persistent processes that build one project after another.

The hook always runs in a subprocess started with ``python -P`` in the project directory, as a
build frontend would run it: hatchling reads the sources as files and never imports the package,
and ``-P`` keeps the project directory off ``sys.path``, so a module a project holds at its root
(``trove_classifiers.py``, ``calendar.py``) is never imported in place of the one hatchling asks
for.

Starting Python and importing hatchling costs several times what building a small plugin package
does, so a build of many packages (a commit that declares 40) hands them to :class:`Backends`:
at most one process per core, each building the projects it is given in turn, with the working
directory, temporary directory and ``SOURCE_DATE_EPOCH`` set afresh for each.  A project whose
build runs code of its own (hatch build or metadata hooks, a version read by running code,
backend plugins in ``build-system.requires``) still gets a process of its own
(:func:`runs_own_code`), so its code cannot change another package's wheel; a process whose build
failed is ended rather than reused.
"""

from __future__ import annotations

import contextlib
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
from collections.abc import Mapping
from pathlib import Path
from typing import IO, Any

from packaging.requirements import InvalidRequirement, Requirement
from packaging.utils import canonicalize_name

from dioptra_plugins.errors import BuildError

_ONE_BUILD = "import sys, hatchling.build as b; print(b.build_wheel(sys.argv[1]))"

# Answers go to a copy of stdout taken before the first build: whatever a build prints lands on
# stderr, never in the answers.  Imports happen once, before any project's directory is entered.
_SERVER = r"""
import json, os, sys, tempfile, traceback
import hatchling.build
from hatchling.builders.wheel import WheelBuilder
answers = os.fdopen(os.dup(1), "w")
os.dup2(2, 1)
for line in sys.stdin:
    request = json.loads(line)
    os.chdir(request["project"])
    for name in ("TMPDIR", "TEMP", "TMP"):
        os.environ[name] = request["tmp"]
    tempfile.tempdir = None
    os.environ["SOURCE_DATE_EPOCH"] = request["source_date_epoch"]
    try:
        answer = {"wheel": hatchling.build.build_wheel(request["wheel_dir"])}
    except BaseException as error:
        answer = {"error": traceback.format_exception_only(error)[-1].strip()}
    answers.write(json.dumps(answer) + "\n")
    answers.flush()
"""


def environment(source_date_epoch: int | None) -> dict[str, str]:
    """The hook's environment: ours without PYTHONPATH; for a reproducible build (a commit's
    time given) also a fixed locale and zone and no hatch settings from the environment."""
    env = dict(os.environ)
    env.pop("PYTHONPATH", None)
    if source_date_epoch is not None:
        env.update(SOURCE_DATE_EPOCH=str(source_date_epoch), LC_ALL="C", TZ="UTC")
        for variable in [name for name in env if name.startswith("HATCH_")]:
            del env[variable]  # hatch's build settings from the environment change the wheel
    return env


def runs_own_code(config: Mapping[str, Any]) -> bool:
    """Whether building a project (its parsed ``pyproject.toml``) runs code the project brings:
    hooks anywhere under ``[tool.hatch]``, a version source other than hatchling's regex, or a
    build requirement other than hatchling itself (a hatch plugin)."""
    build_system = config.get("build-system", {})
    requires = build_system.get("requires", []) if isinstance(build_system, Mapping) else None
    if not isinstance(requires, list):
        return True
    for requirement in requires:
        try:
            if canonicalize_name(Requirement(str(requirement)).name) != "hatchling":
                return True
        except InvalidRequirement:
            return True
    tool = config.get("tool", {})
    hatch = tool.get("hatch", {}) if isinstance(tool, Mapping) else None
    if not isinstance(hatch, Mapping):
        return True
    version = hatch.get("version", {})
    if not isinstance(version, Mapping) or version.get("source", "regex") != "regex":
        return True
    return _holds_key(hatch, "hooks")


def _holds_key(table: Mapping[str, Any], key: str) -> bool:
    return any(
        name == key or (isinstance(value, Mapping) and _holds_key(value, key))
        for name, value in table.items()
    )


def _scratch(wheel_dir: Path) -> Path:
    # hatchling writes the whole wheel to a mkstemp file first and does not remove it when the
    # build fails: give it a temporary directory of ours, removed with ``wheel_dir``'s parent.
    # (Same file system as wheel_dir, so its final move is a rename, not a copy.)
    scratch = wheel_dir / "tmp"
    scratch.mkdir()
    return scratch


def build_once(project: Path, wheel_dir: Path, source_date_epoch: int | None) -> Path:
    """Build ``project`` into ``wheel_dir`` with a hatchling process of its own."""
    env = environment(source_date_epoch)
    scratch = str(_scratch(wheel_dir))
    env.update(TMPDIR=scratch, TEMP=scratch, TMP=scratch)
    result = subprocess.run(
        [sys.executable, "-P", "-c", _ONE_BUILD, str(wheel_dir)],
        cwd=project,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    if result.returncode != 0:
        detail = (result.stderr.strip().splitlines() or ["(no output)"])[-1]
        raise BuildError(f"hatchling failed to build {project}: {detail}")
    return wheel_dir / result.stdout.strip().splitlines()[-1]


class _Server:
    """One persistent hatchling process; used by one thread at a time."""

    def __init__(self, source_date_epoch: int) -> None:
        self.errors: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed in close()
        self.process = subprocess.Popen(
            [sys.executable, "-P", "-c", _SERVER],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=self.errors,
            env=environment(source_date_epoch),
            text=True,
        )

    def build(self, project: Path, wheel_dir: Path, source_date_epoch: int) -> Path:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        request = {
            "project": str(project),
            "wheel_dir": str(wheel_dir),
            "tmp": str(_scratch(wheel_dir)),
            "source_date_epoch": str(source_date_epoch),
        }
        try:
            self.process.stdin.write(json.dumps(request) + "\n")
            self.process.stdin.flush()
            line = self.process.stdout.readline()
        except OSError:
            line = ""  # the process is gone (a broken pipe): said below like any crash
        answer = json.loads(line) if line else {"error": self.last_error()}
        if "wheel" not in answer:
            raise BuildError(f"hatchling failed to build {project}: {answer['error']}")
        return wheel_dir / str(answer["wheel"])

    def last_error(self) -> str:
        self.errors.seek(0)
        lines = self.errors.read().decode(errors="replace").strip().splitlines()
        return lines[-1] if lines else "(no output)"

    def close(self) -> None:
        if self.process.stdin is not None:
            with contextlib.suppress(OSError):  # end of requests: the loop ends, it exits
                self.process.stdin.close()
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.process.stdout is not None:
            self.process.stdout.close()
        self.errors.close()


class Backends:
    """At most ``size`` persistent hatchling processes shared by the threads of one build of
    several packages; reproducible builds only (each build passes its commit's time).

    :meth:`close` (``with contextlib.closing(Backends(n))``) ends every process it started.
    """

    def __init__(self, size: int) -> None:
        self.size = max(1, size)
        self._idle: queue.SimpleQueue[_Server] = queue.SimpleQueue()
        self._started: list[_Server] = []
        self._lock = threading.Lock()

    def build(self, project: Path, wheel_dir: Path, source_date_epoch: int) -> Path:
        """Build ``project`` into ``wheel_dir`` in one of the processes (started on demand)."""
        server = self._take(source_date_epoch)
        try:
            wheel = server.build(project, wheel_dir, source_date_epoch)
        except BaseException:
            self._end(server)  # never reuse a process whose build failed half-way
            raise
        self._idle.put(server)
        return wheel

    def _take(self, source_date_epoch: int) -> _Server:
        while True:
            try:
                server = self._idle.get_nowait()
            except queue.Empty:
                pass
            else:
                if server.process.poll() is None:
                    return server
                self._end(server)  # it died while idle: start another below
                continue
            with self._lock:
                if len(self._started) < self.size:
                    server = _Server(source_date_epoch)
                    self._started.append(server)
                    return server
            # Every process is busy: wait for one (checking again, since a failed one is ended).
            try:
                self._idle.put(self._idle.get(timeout=0.5))
            except queue.Empty:
                continue

    def _end(self, server: _Server) -> None:
        with self._lock:
            self._started.remove(server)
        server.process.kill()
        server.close()

    def close(self) -> None:
        with self._lock:
            servers, self._started = self._started, []
        for server in servers:
            server.close()
