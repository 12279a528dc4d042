"""``index init/list/show/check``, ``publish``, ``yank`` and ``unyank``."""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path
from typing import Any

import click
from packaging.utils import canonicalize_name

from dioptra_plugins.cli.key_commands import (
    SignedWrite,
    describe_init,
    describe_signing,
    keys_option,
    refresh_command,
    signed_init,
    timestamp_expiry_option,
)
from dioptra_plugins.cli.options import index_option, json_option
from dioptra_plugins.cli.output import emit_json, emit_report, emit_table, is_quiet, say
from dioptra_plugins.errors import UsageError
from dioptra_plugins.index.check import check_index
from dioptra_plugins.index.documents import ProjectDocument
from dioptra_plugins.index.initialize import init_index
from dioptra_plugins.index.publish import publish
from dioptra_plugins.index.reading import read_existing_root, read_project
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.index.yank import parse_pin, set_yanked


def storage_for(index_url: str | None) -> Storage:
    if not index_url:
        raise UsageError("no index given: pass --index URL or set DIOPTRA_PLUGINS_INDEX")
    return open_storage(index_url)


@click.group("index")
def index_group() -> None:
    """Create and inspect an index of bundles."""


@index_group.command("init")
@click.argument("url", required=False)
@index_option("index_url")
@click.option("--signed", is_flag=True, help="Also sign it: TUF metadata under tuf/ (--keys).")
@keys_option
@timestamp_expiry_option("With --signed: how long each timestamp is valid [default: 86400].")
@json_option
def init_command(
    url: str | None,
    index_url: str | None,
    signed: bool,
    keys: Path | None,
    timestamp_expiry: int | None,
    as_json: bool,
) -> None:
    """Create an empty index at URL (or --index); an existing index is left as it is.

    With --signed, also write its TUF metadata, and the root workers trust to KEYDIR/root.json.
    """
    storage = storage_for(url or index_url)
    sign = signed_init(signed, keys, timestamp_expiry)
    result = init_index(storage)
    signing = sign(storage) if sign else None
    if as_json:
        emit_json(
            {"url": result.url, "created": result.created, "serial": result.serial}
            | ({"signed": signing} if signing else {})
        )
        return
    if result.created:
        say(f"created an empty index at {result.url}")
    else:
        say(f"{result.url} is already an index (serial {result.serial})")
    if signing:
        say(describe_init(signing))


@index_group.command("list")
@index_option("index_url")
@json_option
def list_command(index_url: str | None, as_json: bool) -> None:
    """Projects in the index with their latest version and number of versions."""
    storage = storage_for(index_url)
    snapshot = read_existing_root(storage)
    rows = []
    for name, entry in sorted(snapshot.root.projects.items()):
        document = read_project(storage, name, entry)
        rows.append({"name": name, "latest": entry.latest, "versions": len(document.versions())})
    if as_json:
        emit_json({"url": storage.url, "serial": snapshot.root.serial, "projects": rows})
        return
    emit_table(
        ["project", "latest", "versions"],
        [(row["name"], row["latest"] or "-", row["versions"]) for row in rows],
    )


@index_group.command("show")
@click.argument("name")
@index_option("index_url")
@json_option
def show_command(name: str, index_url: str | None, as_json: bool) -> None:
    """Versions, files, hashes, yanked state and tasks of one project."""
    storage = storage_for(index_url)
    normalized = canonicalize_name(name)
    root = read_existing_root(storage).root
    entry = root.projects.get(normalized)
    if entry is None:
        raise UsageError(f"{name} is not in the index {storage.url}")
    document = read_project(storage, normalized, entry)
    if as_json:
        emit_json(_project_json(document, entry.latest))
        return
    click.echo(f"{document.name}  latest {entry.latest or '-'}")
    for version in document.versions():
        for file in document.files_of(version):
            state = f"yanked ({file.yanked_reason or 'no reason given'})" if file.yanked else ""
            click.echo(f"\n{version}  {file.filename}  {state}".rstrip())
            click.echo(f"  sha256 {file.sha256}  size {file.size}")
            click.echo(f"  requires-python {file.requires_python or '-'}")
            click.echo(f"  requires {', '.join(file.requires_dist) or '-'}")
            for task in file.manifest.get("tasks", []):
                click.echo(f"  task {task['module']}.{task['function']}{task['signature']}")


def _project_json(document: ProjectDocument, latest: str | None) -> dict[str, Any]:
    return {
        "name": document.name,
        "latest": latest,
        "versions": [
            {
                "version": version,
                "files": [file.to_json() for file in document.files_of(version)],
            }
            for version in document.versions()
        ],
    }


@index_group.command("repair")
@index_option("index_url")
@click.option("--serial", type=click.IntRange(min=1), help="Serial of the rebuilt root.")
@click.option("--force", is_flag=True, help="Rebuild even a root that is still valid.")
@json_option
def repair_command(index_url: str | None, serial: int | None, force: bool, as_json: bool) -> None:
    """Rebuild a damaged or lost index.json from the immutable project documents."""

    from dioptra_plugins.index.repair import repair_index

    result = repair_index(storage_for(index_url), serial=serial, force=force)
    if as_json:
        emit_json(asdict(result))
        return
    for key in result.skipped_documents:
        say(f"skipped damaged document: {key}")
    for key in result.missing_bundles:
        say(f"left out (bundle missing): {key}")
    say(
        f"{result.url}: rebuilt index.json ({result.previous_root} before) at serial "
        f"{result.serial} with {len(result.projects)} projects, "
        f"{sum(result.projects.values())} files"
    )


@index_group.command("check")
@index_option("index_url")
@json_option
def check_command(index_url: str | None, as_json: bool) -> None:
    """Check that every object the root reaches exists with the right hash (exit 1 if not)."""
    report = check_index(storage_for(index_url))
    document = {
        "url": report.url,
        "ok": report.ok,
        "serial": report.serial,
        "projects": report.projects,
        "files": report.files,
        "problems": report.problems,
        "unreferenced": report.unreferenced,
    }
    emit_report(
        as_json,
        document,
        [("damaged", report.problems), ("unreferenced", report.unreferenced)],
        len(report.problems),
        lambda verdict: (
            f"{report.url}: serial {report.serial}, {report.projects} projects, "
            f"{report.files} files, {len(report.unreferenced)} unreferenced objects: {verdict}"
        ),
    )


@contextlib.contextmanager
def _byte_progress(total: int, label: str) -> Iterator[Callable[[int], None] | None]:
    """A byte progress bar (with the rate) on stderr when it is a terminal; nothing otherwise."""
    if not sys.stderr.isatty() or total == 0 or is_quiet():
        yield None
        return
    with click.progressbar(
        length=total, label=label, file=sys.stderr, show_pos=False, show_eta=True
    ) as bar:

        def advance(count: int) -> None:
            bar.update(min(count, total - bar.pos))  # retries re-read bytes: never past 100 %

        yield advance


@click.command("publish")
@click.argument("wheels", nargs=-1, required=True, type=click.Path(path_type=Path))
@index_option("index_url")
@click.option("--dry-run", is_flag=True, help="Verify and compare with the index; write nothing.")
@keys_option
@json_option
def publish_command(
    wheels: tuple[Path, ...],
    index_url: str | None,
    dry_run: bool,
    keys: Path | None,
    as_json: bool,
) -> None:
    """Verify WHEELs and publish them to the index in one step (signed with --keys)."""
    storage = storage_for(index_url)
    total = 0 if dry_run else sum(w.stat().st_size for w in wheels if w.is_file())
    with (
        SignedWrite(storage, keys, enabled=not dry_run) as signed,
        _byte_progress(total, f"uploading {len(wheels)} bundles") as sent,
    ):
        result = publish(storage, list(wheels), sent=sent, dry_run=dry_run)
    signing = signed.result
    if as_json:
        emit_json(
            {"url": storage.url, **asdict(result), "dry_run": dry_run}
            | {"signed": signing.to_json() if signing else None, "requests": storage.requests}
        )
        return
    for file in result.files:
        say(f"{file.status}: {file.filename}  sha256={file.sha256}")
    say(f"{storage.url}: serial {result.serial}{' (dry run)' if dry_run else ''}")
    if signing:
        say(describe_signing(signing))


def _set_yanked(
    pin: str,
    yanked: bool,
    reason: str | None,
    index_url: str | None,
    keys: Path | None,
    as_json: bool,
) -> None:
    name, version = parse_pin(pin)
    with SignedWrite(storage_for(index_url), keys) as signed:
        result = set_yanked(signed.storage, name, version, yanked=yanked, reason=reason)
    signing = signed.result
    if as_json:
        emit_json(asdict(result) | ({"signed": signing.to_json()} if signing else {}))
        return
    word = "yanked" if yanked else "unyanked"
    state = word if result.changed else f"already {word}"
    say(f"{state}: {result.name} {result.version} (serial {result.serial})")
    if signing:
        say(describe_signing(signing))


@click.command("yank")
@click.argument("pin", metavar="NAME==VERSION")
@click.option("--reason", help="Why the version was yanked (shown to users and pip).")
@index_option("index_url")
@keys_option
@json_option
def yank_command(
    pin: str, reason: str | None, index_url: str | None, keys: Path | None, as_json: bool
) -> None:
    """Mark every file of NAME==VERSION as yanked: sync skips it unless pinned exactly."""
    _set_yanked(pin, True, reason, index_url, keys, as_json)


@click.command("unyank")
@click.argument("pin", metavar="NAME==VERSION")
@index_option("index_url")
@keys_option
@json_option
def unyank_command(pin: str, index_url: str | None, keys: Path | None, as_json: bool) -> None:
    """Undo a yank of NAME==VERSION."""
    _set_yanked(pin, False, None, index_url, keys, as_json)


index_group.add_command(refresh_command)

COMMANDS: list[click.Command] = [index_group, publish_command, yank_command, unyank_command]
