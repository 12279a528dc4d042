"""Running one entry point of an MLproject (DESIGN §7), top to bottom:

1. parse the ``MLproject`` and pick the entry point;
2. check and convert the parameters (s3:// paths are downloaded into a temporary directory
   that lives as long as the run);
3. render the command with every value shell-quoted;
4. sync plugins if asked, pin the plugin dir's current generation;
5. copy the generation's ``pylock.toml`` to the output dir, open the MLflow run (if tracking is
   configured);
6. run the command with ``bash -c`` (``sh -c`` without bash) from the project dir, output
   streamed straight to our stdout/stderr, ``DIOPTRA_PLUGIN_DIR`` set and this interpreter's
   directory first on ``PATH`` (so ``python`` is the runner's Python);
7. write ``run.json`` (entry point, parameters, generation, exit code, timings) and close the
   MLflow run.

The command's exit code is the result: a command killed by signal N gives 128 + N, as a shell
reports it.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import json
import logging
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from dioptra_plugins.entrypoints.command import render_command
from dioptra_plugins.entrypoints.mlproject import load_mlproject
from dioptra_plugins.entrypoints.params import resolve_parameters
from dioptra_plugins.entrypoints.plugins import (
    RunPlugins,
    plugin_requirements,
    prepared_plugins,
)
from dioptra_plugins.entrypoints.tracking import TrackedRun, start_tracked_run
from dioptra_plugins.fsutil import write_atomic
from dioptra_plugins.plugindir.layout import LOCK_FILENAME

logger = logging.getLogger(__name__)

RUN_RECORD_FILE = "run.json"
RUN_RECORD_FORMAT = 1


@dataclass(frozen=True)
class RunRequest:
    """Everything ``dioptra-plugins run`` was asked to do."""

    project_dir: Path
    entry_point: str = "main"
    parameters: Mapping[str, str] = field(default_factory=dict)
    requirements: Sequence[str] = ()
    requirements_file: Path | None = None
    use_project_plugins: bool = True
    index: str | None = None
    timeout: float | None = None
    """Seconds an S3 or HTTP index may take per attempt, for the sync (``sync(timeout=)``)."""
    plugin_dir: Path | None = None
    output_dir: Path | None = None
    # Extra variables for the command (the CLI passes its log settings on this way).
    environment: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class RunResult:
    """The command's exit code and the record written as ``run.json``."""

    exit_code: int
    record: Mapping[str, Any]


def run_entry_point(request: RunRequest) -> RunResult:
    """Run one entry point as described in the module doc; library errors raise, the command's
    failure is reported through ``exit_code``."""
    project = load_mlproject(request.project_dir)
    entry_point = project.entry_point(request.entry_point)
    started = _now()
    with tempfile.TemporaryDirectory(prefix="dioptra-run-") as scratch:
        resolved = resolve_parameters(
            entry_point,
            request.parameters,
            project_dir=project.directory,
            download_dir=Path(scratch),
        )
        command = render_command(
            entry_point.command,
            resolved.declared,
            resolved.extra,
            where=f"{project.file}: entry point {entry_point.name!r}",
        )
        requirements = plugin_requirements(
            project.directory,
            request.requirements,
            request.requirements_file,
            use_project_file=request.use_project_plugins,
        )
        sync_started = time.monotonic()
        with prepared_plugins(
            requirements,
            index=request.index,
            plugin_dir=request.plugin_dir,
            timeout=request.timeout,
        ) as plugins:
            sync_seconds = time.monotonic() - sync_started
            record: dict[str, Any] = {
                "format": RUN_RECORD_FORMAT,
                "project": project.name,
                "project_dir": str(project.directory),
                "entry_point": entry_point.name,
                "parameters": resolved.as_dict(),
                "command": command,
                **_plugins_record(plugins),
                "ignored_environment": list(project.unused_environment),
            }
            lock_copy = _copy_lock(plugins, request.output_dir)
            if lock_copy is not None:
                record["lock"] = lock_copy.name
            tracked = start_tracked_run(
                run_name=f"{project.name or project.directory.name}:{entry_point.name}",
                parameters=resolved.as_dict(),
                tags=_tags(record),
                lock_file=plugins.lock_file,
            )
            env = {**_python_first_environment(), **request.environment, **plugins.environment()}
            if tracked is not None:
                env.update(tracked.environment())
            record["started_at"] = started
            record["timings"] = {"sync_seconds": round(sync_seconds, 3)}
            exit_code = _run_recorded(command, project.directory, env, record, request, tracked)
    logger.info("entry point %s exited with %d", entry_point.name, exit_code)
    return RunResult(exit_code=exit_code, record=record)


def _plugins_record(plugins: RunPlugins) -> dict[str, Any]:
    """What ``run.json`` says of the plugins the command ran with (``lock``: set once copied)."""
    return {
        "plugin_dir": str(plugins.plugin_dir) if plugins.plugin_dir else None,
        "generation": plugins.generation_name,
        "plugins": plugins.locked_versions(),
        "plugin_sources": plugins.locked_provenance(),
        "synced_from": plugins.synced.source if plugins.synced else None,
        "lock": None,
    }


def _run_recorded(
    command: str,
    cwd: Path,
    env: Mapping[str, str],
    record: dict[str, Any],
    request: RunRequest,
    tracked: TrackedRun | None,
) -> int:
    """Run ``command``, then complete and write ``record`` (and close the tracked run) even
    when running it failed: a run that did not finish is recorded too (exit code 1)."""
    command_started = time.monotonic()
    exit_code = 1
    try:
        exit_code = run_command(command, cwd=cwd, env=env)
    finally:
        record["exit_code"] = exit_code
        record["ended_at"] = _now()
        record["timings"]["command_seconds"] = round(time.monotonic() - command_started, 3)
        _finish(record, request.output_dir, tracked)
    return exit_code


def run_command(command: str, *, cwd: Path, env: Mapping[str, str]) -> int:
    """Run ``command`` through the shell, streaming its output; return a shell-style exit code.

    SIGTERM and SIGINT received while it runs are forwarded to it, and the call still waits for
    it to exit so that the run is recorded.
    """
    shell = shutil.which("bash") or "/bin/sh"
    logger.info("running in %s: %s", cwd, command)
    # Our own buffered output must come out before the command's, not after it.
    sys.stdout.flush()
    sys.stderr.flush()
    with _SignalForwarder() as forwarder:
        # The handler is in place before the command starts: a SIGTERM that arrives in between
        # is held and delivered once there is a process to deliver it to.
        process = subprocess.Popen([shell, "-c", command], cwd=cwd, env=dict(env))
        forwarder.attach(process)
        while True:
            try:
                returncode = process.wait()
                break
            except KeyboardInterrupt:
                # SIGINT from a terminal reached the command too; from `kill` it did not.
                forwarder.forward(signal.SIGINT)
    return 128 - returncode if returncode < 0 else returncode


class _SignalForwarder:
    """Forwards SIGTERM to the command while installed (only possible in the main thread)."""

    def __init__(self) -> None:
        self._process: subprocess.Popen[bytes] | None = None
        self._pending: list[int] = []
        self._previous: Any = None
        self._installed = False

    def __enter__(self) -> _SignalForwarder:
        if threading.current_thread() is threading.main_thread():
            self._previous = signal.signal(signal.SIGTERM, self._handle)
            self._installed = True
        return self

    def __exit__(self, *_exc: object) -> None:
        if self._installed:
            signal.signal(signal.SIGTERM, self._previous)

    def attach(self, process: subprocess.Popen[bytes]) -> None:
        self._process = process
        while self._pending:
            self.forward(self._pending.pop(0))

    def forward(self, signum: int) -> None:
        if self._process is None:
            self._pending.append(signum)
            return
        with contextlib.suppress(ProcessLookupError):
            self._process.send_signal(signum)

    def _handle(self, signum: int, _frame: object) -> None:
        self.forward(signum)


def _python_first_environment() -> dict[str, str]:
    """Our environment with this interpreter's directory first on PATH.

    The MLproject's environment keys are not used, so "the environment" a command runs in is
    the runner's: ``python`` in a command must be the interpreter that has dioptra-plugins (and
    the plugins' dependencies), not whichever one an unactivated shell finds first.
    """
    env = dict(os.environ)
    bin_dir = str(Path(sys.executable).parent)
    entries = env.get("PATH", os.defpath).split(os.pathsep)
    if entries[:1] != [bin_dir]:
        env["PATH"] = os.pathsep.join([bin_dir, *entries])
    return env


def _copy_lock(plugins: RunPlugins, output_dir: Path | None) -> Path | None:
    if output_dir is None or plugins.lock_file is None:
        return None
    output_dir.mkdir(parents=True, exist_ok=True)
    target = output_dir / LOCK_FILENAME
    shutil.copyfile(plugins.lock_file, target)
    return target


def _finish(record: dict[str, Any], output_dir: Path | None, tracked: TrackedRun | None) -> None:
    record_file: Path | None = None
    if output_dir is not None:
        output_dir.mkdir(parents=True, exist_ok=True)
        record_file = output_dir / RUN_RECORD_FILE
        write_atomic(record_file, (json.dumps(record, indent=2, sort_keys=True) + "\n").encode())
    if tracked is not None:
        tracked.finish(int(record["exit_code"]), record_file)


def _tags(record: Mapping[str, Any]) -> dict[str, str]:
    tags = {"dioptra.entry_point": str(record["entry_point"])}
    if record["project"]:
        tags["dioptra.project"] = str(record["project"])
    if record["generation"]:
        tags["dioptra.plugin_generation"] = str(record["generation"])
    # The commit each plugin bundle was built from: a run traces back to reviewed code.
    for name, source in sorted((record.get("plugin_sources") or {}).items()):
        tags[f"dioptra.plugin.{name}.commit"] = str(source.get("commit"))
        tags[f"dioptra.plugin.{name}.source"] = str(source.get("url"))
        if source.get("dirty"):
            tags[f"dioptra.plugin.{name}.dirty"] = "true"
    return tags


def _now() -> str:
    return dt.datetime.now(dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
