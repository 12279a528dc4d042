"""``tasks``, ``call`` and ``watch``: the registry from the shell."""

from __future__ import annotations

import contextlib
import functools
import json
import logging
import os
import signal
import sys
import threading
from collections.abc import Iterator
from types import FrameType
from typing import IO, Any

import click

from dioptra_plugins.cli.options import json_option, plugin_dir_option
from dioptra_plugins.cli.output import emit_entries, emit_json, emit_table, table_fits
from dioptra_plugins.errors import PluginImportError, RegistryError, UsageError
from dioptra_plugins.plugindir.syspath import plugin_dirs
from dioptra_plugins.registry.lookup import module_name
from dioptra_plugins.registry.registry import Registry
from dioptra_plugins.registry.reload import ReloadEvent
from dioptra_plugins.registry.task_listing import collect_tasks
from dioptra_plugins.registry.task_listing import load_packages as _load
from dioptra_plugins.registry.task_listing import packages_in as _packages_in


def _writes_to_fd1(stream: IO[str]) -> bool:
    try:
        return stream.fileno() == 1
    except (AttributeError, OSError, ValueError):
        return False


@contextlib.contextmanager
def _stdout_shielded(active: bool = True) -> Iterator[IO[str]]:
    """While plugins import and run, what they print goes to stderr; yields the real stdout.

    Plugins print at import (banners, warnings, logging handlers set up on ``sys.stdout``);
    with ``--json`` stdout must carry the JSON only.  Both ``sys.stdout`` and, in a real
    process, file descriptor 1 (``os.write``, C extensions, subprocesses) point at stderr
    until the block ends.
    """
    real: IO[str] = sys.stdout
    if not active:
        yield real
        return
    real.flush()
    saved = os.dup(1) if _writes_to_fd1(real) else None
    private: IO[str] | None = None
    try:
        if saved is not None:
            encoding = getattr(real, "encoding", None) or "utf-8"
            private = open(os.dup(saved), "w", buffering=1, encoding=encoding)  # noqa: SIM115
            os.dup2(2, 1)
        with contextlib.redirect_stdout(sys.stderr):
            yield private if private is not None else real
    finally:
        sys.stderr.flush()
        if private is not None:
            private.flush()
            private.close()
        if saved is not None:
            os.dup2(saved, 1)
            os.close(saved)


def _error_document(error: PluginImportError) -> dict[str, Any]:
    return {
        "module": error.module,
        "file": error.file,
        "line": error.line,
        "message": error.message,
    }


@click.command("tasks")
@click.argument("package", required=False)
@plugin_dir_option(several=True)
@json_option
def tasks_command(package: str | None, plugin_dir: str | None, as_json: bool) -> None:
    """List the registered task plugins (of PACKAGE, or of every package in the plugin dirs)."""
    _printed_events_only()
    with _stdout_shielded(as_json):
        tasks, failures = collect_tasks(package, plugin_dir=plugin_dir)
    if as_json:
        emit_json({"tasks": tasks, "errors": [_error_document(e) for e in failures]})
    else:
        rows = [(f"{t['module']}.{t['function']}{t['signature']}", t["description"]) for t in tasks]
        if table_fits(["TASK", "DESCRIPTION"], rows):
            emit_table(["TASK", "DESCRIPTION"], rows)
        else:
            # Too wide for the terminal: the task's name on its line, then its signature and
            # description indented and wrapped beneath it.
            emit_entries(
                [
                    (f"{t['module']}.{t['function']}", [t["signature"], t["description"]])
                    for t in tasks
                ]
            )
        for failure in failures:
            click.echo(f"error: {failure}", err=True)
    if failures:
        raise click.exceptions.Exit(1)


def _parse_argument(text: str) -> tuple[str, Any]:
    name, sep, value = text.partition("=")
    if not sep or not name.isidentifier():
        raise UsageError(f"-a expects NAME=VALUE, got {text!r}")
    try:
        return name, json.loads(value)
    except ValueError:
        return name, value  # not JSON: the plain string


@click.command("call")
@click.argument("package")
@click.argument("plugin")
@click.argument("func")
@click.option(
    "-a",
    "--arg",
    "arguments",
    multiple=True,
    metavar="NAME=VALUE",
    help="A keyword argument; VALUE is parsed as JSON when it parses, else taken as a string.",
)
@plugin_dir_option(several=True)
@json_option
def call_command(
    package: str,
    plugin: str,
    func: str,
    arguments: tuple[str, ...],
    plugin_dir: str | None,
    as_json: bool,
) -> None:
    """Call task plugin FUNC of PACKAGE.PLUGIN and print its result (as JSON if it can).

    What the plugin prints while it imports and runs goes to stderr: stdout is the result.
    """
    kwargs = dict(_parse_argument(a) for a in arguments)
    registry = Registry()
    with plugin_dirs(plugin_dir), _stdout_shielded():
        plugin_func = registry.get(package, plugin, func)
        try:
            result = plugin_func(**kwargs)
        except Exception as error:  # the plugin's own failure: report it, no traceback
            raise RegistryError(
                f"{module_name(package, plugin)}.{func} raised {type(error).__name__}: {error}"
            ) from error
    if as_json:
        # One document, whatever the result: its JSON form when it has one, else its repr.
        try:
            emit_json({"task": f"{module_name(package, plugin)}.{func}", "result": result})
        except (TypeError, ValueError):
            emit_json({"task": f"{module_name(package, plugin)}.{func}", "repr": repr(result)})
        return
    try:
        click.echo(json.dumps(result))
    except (TypeError, ValueError):
        click.echo(repr(result))


def _describe(event: ReloadEvent) -> str:
    if event.error is not None:
        return f"error   {event.module}: {event.error} (keeping the last good version)"
    if event.unloaded:
        tasks = f"unregistered {', '.join(event.removed)}" if event.removed else "no tasks"
        return f"removed {event.module}: {tasks}"
    parts = [
        f"{label} {', '.join(names)}"
        for label, names in (
            ("added", event.added),
            ("changed", event.changed),
            ("removed", event.removed),
        )
        if names
    ]
    if event.recovered:
        # Said out loud, so that the error above is not the last word on the screen.
        return f"fixed   {event.module}" + (f": {'; '.join(parts)}" if parts else ": loads again")
    return f"reload  {event.module}" + (f": {'; '.join(parts)}" if parts else "")


def _printed_events_only() -> None:
    """The command prints every load failure and reload itself: the library's WARNING for
    the same failure would say it twice (``-v`` still shows the library's log)."""
    if logging.getLogger("dioptra_plugins").getEffectiveLevel() >= logging.WARNING:
        for name in ("dioptra_plugins.registry.loader", "dioptra_plugins.registry.registry"):
            logging.getLogger(name).setLevel(logging.ERROR)


@click.command("watch")
@click.argument("dirs", nargs=-1, type=click.Path(exists=True, file_okay=False))
@functools.partial(
    json_option, help="Print each event as one JSON line (a failure to start: a JSON document)."
)
@click.option(
    "--debounce",
    type=float,
    default=0.02,
    show_default=True,
    help=(
        "A finished save reloads at once; a save made in several steps reloads after this "
        "many quiet seconds."
    ),
)
def watch_command(dirs: tuple[str, ...], as_json: bool, debounce: float) -> None:
    """Import the plugins in DIRS (default: $DIOPTRA_PLUGIN_DIR) and reload them on every save."""
    from dioptra_plugins.registry.watcher import watch, watched_dirs

    directories = watched_dirs(dirs or None)
    _printed_events_only()
    registry = Registry()
    lock = threading.Lock()
    stop = threading.Event()

    def on_signal(signum: int, frame: FrameType | None) -> None:
        stop.set()

    previous = signal.signal(signal.SIGTERM, on_signal)
    try:
        # With --json, plugins printing while they (re)load never reach stdout: the events do.
        with plugin_dirs([str(d) for d in directories]), _stdout_shielded(as_json) as out:

            def emit(event: ReloadEvent) -> None:
                with lock:
                    text = json.dumps(event.to_dict()) if as_json else _describe(event)
                    click.echo(text, file=out)

            for failure in _load(registry, list(_packages_in(directories))):
                emit(ReloadEvent(failure.module, error=failure.failure))
            registry.subscribe(emit)
            with watch(directories, registry=registry, debounce=debounce, load_new=True):
                click.echo(
                    f"watching {', '.join(map(str, directories))} "
                    f"({len(registry.plugins())} tasks); Ctrl-C to stop",
                    err=True,
                )
                while not stop.wait(0.5):
                    pass
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
    click.echo("stopped", err=True)


COMMANDS: list[click.Command] = [tasks_command, call_command, watch_command]
