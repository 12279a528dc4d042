"""``sync``, ``list``, ``verify``, ``rollback`` and ``gc``: the plugin dir commands.

They parse arguments, call :func:`dioptra_plugins.sync` and :mod:`dioptra_plugins.syncing`, and
print; the library is imported inside each command so that ``dioptra-plugins --help`` stays fast.
"""

from __future__ import annotations

import functools
import json
import sys
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import TYPE_CHECKING, Any

import click

from dioptra_plugins.cli.options import index_option, json_option, number_option, plugin_dir_option
from dioptra_plugins.cli.output import emit_json, emit_report, emit_table, is_quiet, plural, say

if TYPE_CHECKING:
    from dioptra_plugins.syncing.engine import SyncResult


class _StatusLine:
    """``12/40 packages, 3.1/4.2 MB, 21.0 MB/s`` on a terminal's stderr, redrawn in place."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._bytes = (0, 0)
        self._packages = (0, 0)
        self._started = clock()
        self._drawn = 0.0
        self._lock = threading.Lock()
        self._shown = False
        self._width = 0

    def bytes(self, done: int, total: int) -> None:
        self._bytes = (done, total)
        self._draw()

    def packages(self, done: int, total: int) -> None:
        self._packages = (done, total)
        self._draw(force=done == total)

    def _draw(self, force: bool = False) -> None:
        now = self._clock()
        with self._lock:
            if not force and now - self._drawn < 0.1:
                return
            (done, total), (stored, count) = self._bytes, self._packages
            if count == 0:
                return  # nothing known yet: no "0/0 packages" flash before the first figure
            self._drawn = now
            elapsed = max(now - self._started, 1e-6)
            rate = done / elapsed / 1e6
            text = f"{stored}/{count} packages, {done / 1e6:.1f}/{total / 1e6:.1f} MB, "
            text += f"{rate:.1f} MB/s"
            if done < total and done > 0 and elapsed >= 1.0:
                # As pip's and uv's bars: the time left at the rate so far (after a second, so
                # that the first chunk's burst does not promise the impossible).
                left = int((total - done) / (done / elapsed))
                text += f", ETA {left // 60}:{left % 60:02d}"
            # Downloads done, packages still being checked: say so (a big bundle takes a while).
            if done >= total and stored < count:
                text += "; verifying and extracting"
            # Pad over a longer previous line; "\r" alone would leave its tail on screen.
            click.echo(f"\r{text.ljust(self._width)}", nl=False, err=True)
            self._width = len(text)
            self._shown = True

    def finish(self) -> None:
        if self._shown:
            click.echo("", err=True)


_Callback = Callable[[int, int], None]
_Sync = Callable[..., "SyncResult"]
"""``sync()`` with the command's arguments; ``progress`` and ``stored`` may still be given."""


def _status_line(enabled: bool) -> tuple[_Callback | None, _Callback | None, Callable[[], None]]:
    """(bytes callback, packages callback, finish) for a terminal; nothing otherwise."""
    if not enabled or not sys.stderr.isatty():
        return None, None, lambda: None
    line = _StatusLine()
    return line.bytes, line.packages, line.finish


def _version_change(name: str, old: str, new: str, *, planned: bool = False) -> str:
    """``upgraded x 1.0 -> 1.3`` or ``downgraded x 1.3 -> 1.0``: uv's words for either way."""
    from packaging.version import InvalidVersion, Version

    try:
        down = Version(new) < Version(old)
    except InvalidVersion:
        down = False
    verb = ("downgrade" if down else "upgrade") + ("" if planned else "d")
    return f"{verb} {name} {old} -> {new}"


def _describe(result: SyncResult) -> str:
    if result.dry_run:
        changes = [f"install {n} {v}" for n, v in sorted(result.installed.items())]
        changes += [
            _version_change(n, a, b, planned=True) for n, (a, b) in sorted(result.upgraded.items())
        ]
        changes += [f"remove {n} {v}" for n, v in sorted(result.removed.items())]
        if not changes and result.generation is not None:
            return f"dry run: nothing would change (generation {result.generation})"
        return "dry run: would " + "; ".join(changes or ["create the first generation"])
    if result.reinstalled and not result.switched:
        return (
            f"reinstalled {len(result.reinstalled)} package"
            f"{'' if len(result.reinstalled) == 1 else 's'} in generation {result.generation}"
        )
    if not result.switched:
        count = len(result.unchanged)
        return (
            f"up to date: generation {result.generation}, {plural(count, 'package')} "
            f"({plural(result.requests, 'request')})"
        )
    changes = [f"installed {n} {v}" for n, v in sorted(result.installed.items())]
    changes += [_version_change(n, a, b) for n, (a, b) in sorted(result.upgraded.items())]
    changes += [f"removed {n} {v}" for n, v in sorted(result.removed.items())]
    totals = (
        f"{len(result.unchanged)} unchanged; {result.downloaded} downloaded, "
        f"{plural(result.requests, 'request')}"
    )
    if len(changes) <= 4:
        return f"generation {result.generation}: " + "; ".join([*changes, totals])
    # Many changes: one per line, not one line of a thousand characters.
    return "\n".join([f"generation {result.generation}:", *(f"  {c}" for c in changes), totals])


@click.command("sync")
@click.argument("requirements", nargs=-1)
@click.option(
    "-r",
    "--requirements-file",
    "files",
    multiple=True,
    metavar="FILE",
    help="Requirements file: one per line, # comments (repeatable).",
)
@click.option("--locked", metavar="LOCKFILE", help="Reproduce exactly this pylock.toml.")
@index_option()
@plugin_dir_option()
@number_option("--jobs", click.IntRange(1, 64), 8, "Parallel downloads.")
@json_option
@click.option(
    "--ignore-env-deps",
    is_flag=True,
    help="Warn about, instead of refusing, unmet non-plugin requirements (numpy, ...).",
)
@click.option(
    "--dry-run",
    is_flag=True,
    help="Resolve and print what would change; write nothing (no lock, no cache).",
)
@click.option(
    "--reinstall",
    is_flag=True,
    help="Download, verify and extract every package again (repairs a damaged store).",
)
@click.option(
    "--every",
    type=click.FloatRange(min=0.05),
    metavar="SECONDS",
    help="Keep syncing: one conditional request per interval; stop on SIGTERM/SIGINT "
    "(with --json: one JSON object per line, per sync).",
)
@number_option(
    "--lock-timeout",
    click.FloatRange(min=0),
    60.0,
    "Seconds to wait for another process holding the plugin dir.",
)
@click.option(
    "--trust",
    metavar="ROOT.json",
    envvar="DIOPTRA_PLUGINS_TRUST",
    help="Verify the signed index against this trusted TUF root first; refuse an unsigned "
    "index [default: $DIOPTRA_PLUGINS_TRUST].",
)
@click.option(
    "--allow-shadowing",
    "allow_shadowing",
    multiple=True,
    metavar="NAME",
    help="Install a bundle whose top-level import NAME the environment already provides "
    "(refused otherwise: the plugin dir would replace that module); repeatable.",
)
def sync_command(
    requirements: tuple[str, ...],
    files: tuple[str, ...],
    every: float | None,
    as_json: bool,
    **options: Any,
) -> None:
    """Sync the plugin dir to REQUIREMENTs (PEP 508: name>=1,<2), atomically.

    Without REQUIREMENTs, -r or --locked: resolve the last successful sync's requirements
    again (after a rollback, this syncs forward).

    A sync that finds nothing changed makes one request.  A failed or refused sync leaves the
    plugin dir exactly as it was.
    """
    from dioptra_plugins.errors import UsageError
    from dioptra_plugins.syncing.engine import sync

    wanted = _requirements(requirements, files)
    if every is not None and (options["dry_run"] or options["reinstall"]):
        raise UsageError(
            "--every keeps a dir in sync; it does not combine with --dry-run or --reinstall"
        )
    # The other options are sync()'s keyword arguments, named as sync() names them (it refuses
    # requirements with --locked).  No requirements: it repeats the dir's last sync (`uv sync`).
    once: _Sync = functools.partial(sync, wanted or None, **options)
    if every is None:
        _sync_once(once, as_json)
    else:
        _sync_every(every, once, as_json)


def _requirements(requirements: tuple[str, ...], files: tuple[str, ...]) -> list[str]:
    """The REQUIREMENTs and those of each ``-r`` file, in order."""
    from dioptra_plugins.errors import UsageError
    from dioptra_plugins.syncing.requirements import read_requirements_file

    wanted = list(requirements)
    for file in files:
        wanted += read_requirements_file(file)
    if files and not wanted:  # an empty file is a mistake, not "remove every package"
        raise UsageError(f"no requirements in {', '.join(files)}")
    return wanted


def _sync_once(once: _Sync, as_json: bool) -> None:
    """One sync, with its status line on a terminal, and its result printed."""
    progress, stored, finish = _status_line(not (as_json or is_quiet()))
    try:
        result = once(progress=progress, stored=stored)
    finally:
        finish()
    if as_json:
        emit_json(result.to_dict())
    else:
        say(_describe(result))


def _sync_every(interval: float, once: _Sync, as_json: bool) -> None:
    """Sync, then wait ``interval``, until SIGTERM or SIGINT.

    Every sync prints one line, a no-op included: a heartbeat, as git-sync's, so that a
    monitor tells an idle healthy keeper (a line each interval) from a hung one (silence).
    With ``--json`` each line is one JSON object with ``time`` and ``event`` (``sync`` or
    ``error``); as text, each line starts with the time.
    """
    # Imported here, not at the top: a single sync (a no-op above all) needs none of them, and
    # `signal` (with its enums) and the error family cost every start-up otherwise.
    import signal

    from dioptra_plugins.errors import DioptraPluginsError
    from dioptra_plugins.index.connections import IndexConnections

    stop = threading.Event()

    def request_stop(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    previous = {sig: signal.signal(sig, request_stop) for sig in (signal.SIGTERM, signal.SIGINT)}
    # A keeper is the long-lived worker IndexConnections is for: its storage stays open and the
    # project documents it read are kept, so a one-bundle change reads one document.
    connections = IndexConnections()
    try:
        while not stop.is_set():
            now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
            try:
                result = once(connections=connections)
            except DioptraPluginsError as error:
                # A long-lived keeper outlives a flaky network or a bad publish: say so, go on.
                click.echo(f"{now} sync failed (plugin dir unchanged): {error}", err=True)
                if as_json:
                    failure: dict[str, object] = {"time": now, "event": "error"}
                    failure |= {"error": str(error), "kind": type(error).__name__}
                    failure["exit_code"] = error.exit_code
                    failure["details"] = error.details()
                    click.echo(json.dumps(failure, sort_keys=True))
            else:
                if as_json:
                    document = {"time": now, "event": "sync", **result.to_dict()}
                    click.echo(json.dumps(document, sort_keys=True))
                elif result.switched or not is_quiet():
                    click.echo(f"{now} {_describe(result)}")
            sys.stdout.flush()
            stop.wait(interval)
    finally:
        connections.close()
        for sig, handler in previous.items():
            signal.signal(sig, handler)


@click.command("list")
@plugin_dir_option()
@json_option
def list_command(plugin_dir: str | None, as_json: bool) -> None:
    """List the current generation's plugin packages, bundle hashes and tasks."""
    from dioptra_plugins.plugindir.operations import list_plugins

    listing = list_plugins(plugin_dir)
    if as_json:
        emit_json(listing)
        return
    click.echo(
        f"{listing['plugin_dir']}: generation {listing['generation']} "
        f"(index {listing['index']}, serial {listing['index_serial']})"
    )
    emit_table(
        ["package", "project", "version", "sha256", "tasks", "source"],
        [
            [
                p["package"],
                p["name"],
                p["version"],
                p["sha256"][:16],
                len(p["tasks"]),
                _source(p.get("provenance")),
            ]
            for p in listing["packages"]
        ],
    )
    for package in listing["packages"]:
        for task in package["tasks"]:
            click.echo(f"  {task.get('module')}.{task.get('function')}{task.get('signature', '')}")


def _source(provenance: dict[str, Any] | None) -> str:
    """A bundle's commit, short (``git 5ff20c18a38f``), or ``-`` for one not built from git."""
    from dioptra_plugins.bundle.provenance import summary

    return summary(provenance)


@click.command("verify")
@plugin_dir_option()
@json_option
def verify_command(plugin_dir: str | None, as_json: bool) -> None:
    """Re-hash every store file against its RECORD and check every link; exit 1 on a difference."""
    from dioptra_plugins.plugindir.operations import verify

    report = verify(plugin_dir)
    emit_report(
        as_json,
        report.to_dict(),
        [("problem", report.problems), ("note", report.notes)],
        len(report.problems),
        lambda verdict: (
            f"{verdict}: generation {report.generation}, {report.files_checked} files in "
            f"{report.store_entries} store entries, {report.generations} generations"
        ),
    )


@click.command("rollback")
@plugin_dir_option()
@click.option("--to", "to", metavar="GENERATION", help="Generation number [default: previous].")
@json_option
def rollback_command(plugin_dir: str | None, to: str | None, as_json: bool) -> None:
    """Switch the plugin dir back to an earlier generation, atomically."""
    from dioptra_plugins.plugindir.operations import rollback

    outcome = rollback(plugin_dir, to=to)
    if as_json:
        emit_json(outcome)
    elif outcome["from"] == outcome["to"]:
        say(f"already at generation {outcome['to']}")
    elif int(outcome["to"]) < int(outcome["from"]):
        say(f"rolled back from generation {outcome['from']} to {outcome['to']}")
    else:  # --to a later generation: a switch forward is not a roll back
        say(f"switched forward from generation {outcome['from']} to {outcome['to']}")


@click.command("gc")
@plugin_dir_option()
@number_option(
    "--keep",
    click.IntRange(min=0),
    3,
    "Newest generations to keep (current, previous and pinned ones are always kept).",
)
@click.option("--dry-run", is_flag=True, help="Print what would be deleted; delete nothing.")
@json_option
def gc_command(plugin_dir: str | None, keep: int, dry_run: bool, as_json: bool) -> None:
    """Delete old generations and the store entries and cached bundles nothing uses."""
    from dioptra_plugins.plugindir.operations import gc

    result = gc(plugin_dir, keep=keep, dry_run=dry_run)
    if as_json:
        emit_json(result.to_dict())
        return
    say(
        ("dry run: would remove " if dry_run else "removed ")
        + f"{len(result.removed_generations)} generations, "
        f"{len(result.removed_store_entries)} store entries, "
        f"{len(result.removed_cache_entries)} cached bundles; kept {', '.join(result.kept)}"
        + (f" (pinned: {', '.join(result.pinned)})" if result.pinned else "")
    )


COMMANDS: list[click.Command] = [
    sync_command,
    list_command,
    verify_command,
    rollback_command,
    gc_command,
]
