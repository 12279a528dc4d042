"""``index``: create, inspect, check, repair and sign an index (``init``, ``list``, ``show``,
``check``, ``repair``, ``site``, ``refresh``, ``renew``).

Putting bundles into an index (``publish``, ``yank``, ``unyank``) is ``publish_commands``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click
from packaging.utils import canonicalize_name

from dioptra_plugins.cli.key_commands import (
    describe_init,
    describe_signing,
    keys_option,
    refresh_command,
    renew_command,
    timestamp_expiry_option,
)
from dioptra_plugins.cli.options import index_option, json_option, open_index
from dioptra_plugins.cli.output import emit_json, emit_report, emit_table, say
from dioptra_plugins.errors import UnknownProjectError
from dioptra_plugins.index.documents import ProjectDocument
from dioptra_plugins.index.packs import read_documents
from dioptra_plugins.index.reading import read_existing_root, read_project
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.publishing.operations import check_index

if TYPE_CHECKING:
    from dioptra_plugins.signing.views import Disagreement, TrustedView


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
    timeout: float | None,
    signed: bool,
    keys: Path | None,
    timestamp_expiry: int | None,
    as_json: bool,
) -> None:
    """Create an empty index at URL (or --index); an existing index is left as it is.

    With --signed, also write its TUF metadata, and the root workers trust to KEYDIR/root.json.
    """
    from dioptra_plugins.publishing.operations import init_index

    storage = open_index(url or index_url, timeout)
    result = init_index(storage, signed=signed, keys=keys, timestamp_expiry=timestamp_expiry)
    if result.signed:  # every catalogue page says whether the index is signed
        from dioptra_plugins.catalogue.site import refresh_site

        refresh_site(storage)
    if as_json:
        signing = result.signed
        emit_json(
            {"url": result.url, "created": result.created, "serial": result.serial}
            | (
                {
                    "signed": signing.to_json()
                    | {"trusted_root": result.trusted_root, "root_created": result.root_created}
                }
                if signing
                else {}
            )
        )
        return
    if result.created:
        say(f"created an empty index at {result.url}")
    else:
        say(f"{result.url} is already an index (serial {result.serial})")
    if result.signed:
        say(describe_init(result))


def _trust_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--trust ROOT.json`` of the read-only views (the variable ``sync --trust`` reads)."""
    return click.option(
        "--trust",
        metavar="ROOT.json",
        envvar="DIOPTRA_PLUGINS_TRUST",
        help="Read the index through its signed metadata, verified against this trusted TUF "
        "root, as `sync --trust` does; say where the unsigned documents disagree "
        "[default: $DIOPTRA_PLUGINS_TRUST].",
    )(func)


def _trusted(storage: Storage, trust: str) -> TrustedView:
    from dioptra_plugins.signing.views import trusted_view

    view = trusted_view(storage, trust)
    for error in view.unreadable.values():
        raise error  # a view cannot show a signed project it cannot read
    return view


def _warn_disagreements(url: str, disagreements: list[Disagreement]) -> None:
    """Each disagreement as a ``warning:`` line on stderr (shown even with --quiet and --json:
    what is shown is the signed view, and the reader must know the rest differs)."""
    if not disagreements:
        return
    click.echo(
        f"warning: the unsigned documents of {url} disagree with its signed metadata in "
        f"{len(disagreements)} ways; showing what the signed metadata says",
        err=True,
    )
    for disagreement in disagreements:
        click.echo(f"warning: {disagreement.message}", err=True)


@index_group.command("list")
@index_option("index_url")
@_trust_option
@json_option
def list_command(
    index_url: str | None, timeout: float | None, trust: str | None, as_json: bool
) -> None:
    """Projects in the index with their latest version and number of versions.

    With --trust, only what the signed metadata says (differences are warned about on stderr).
    """
    storage = open_index(index_url, timeout)
    view = _trusted(storage, trust) if trust else None
    if view is not None:
        root = view.root
        documents = view.documents
    else:
        snapshot = read_existing_root(storage)
        root = snapshot.root
        documents = read_documents(storage, root, snapshot.sha256, strict=True)
    rows = []
    for name, entry in sorted(root.projects.items()):
        rows.append(
            {"name": name, "latest": entry.latest, "versions": len(documents[name].versions())}
        )
    if view is not None:
        _warn_disagreements(storage.url, view.disagreements)
    if as_json:
        emit_json(
            {"url": storage.url, "serial": root.serial, "projects": rows}
            | (_trusted_json(view) if view is not None else {})
        )
        return
    emit_table(
        ["project", "latest", "versions"],
        [(row["name"], row["latest"] or "-", row["versions"]) for row in rows],
    )


@index_group.command("show")
@click.argument("name")
@index_option("index_url")
@_trust_option
@json_option
def show_command(
    name: str, index_url: str | None, timeout: float | None, trust: str | None, as_json: bool
) -> None:
    """Versions, files, hashes, yanked state and tasks of one project.

    With --trust, only what the signed metadata says (differences are warned about on stderr).
    """
    storage = open_index(index_url, timeout)
    normalized = canonicalize_name(name)
    view = _trusted(storage, trust) if trust else None
    root = view.root if view is not None else read_existing_root(storage).root
    if view is not None:
        _warn_disagreements(storage.url, view.about(normalized))
    entry = root.projects.get(normalized)
    if entry is None:
        # A lookup that failed, not a malformed command: exit 1, as `yank nosuch==1.0` does.
        raise UnknownProjectError(name, storage.url, signed=view is not None)
    document = (
        view.documents[normalized] if view is not None else read_project(storage, normalized, entry)
    )
    if as_json:
        emit_json(
            _project_json(document, entry.latest)
            | (_trusted_json(view, normalized) if view is not None else {})
        )
        return
    click.echo(f"{document.name}  latest {entry.latest or '-'}")
    for version in document.versions():
        for file in document.files_of(version):
            state = f"yanked ({file.yanked_reason or 'no reason given'})" if file.yanked else ""
            click.echo(f"\n{version}  {file.filename}  {state}".rstrip())
            click.echo(f"  sha256 {file.sha256}  size {file.size}")
            click.echo(f"  requires-python {file.requires_python or '-'}")
            click.echo(f"  requires {', '.join(file.requires_dist) or '-'}")
            if provenance := file.manifest.get("provenance"):
                dirty = " (dirty)" if provenance.get("dirty") else ""
                click.echo(f"  source {provenance.get('url')} {provenance.get('commit')}{dirty}")
            for task in file.manifest.get("tasks", []):
                click.echo(f"  task {task['module']}.{task['function']}{task['signature']}")


def _trusted_json(view: TrustedView, project: str | None = None) -> dict[str, Any]:
    """What ``--json`` adds with --trust: the view is the signed one, and how the rest differs."""
    disagreements = view.disagreements if project is None else view.about(project)
    return {
        "trusted": True,
        "unsigned_serial": view.unsigned_serial,
        "disagreements": [d.to_json() for d in disagreements],
    }


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
@click.option(
    "--serial",
    type=click.IntRange(min=1),
    help="Serial of the rebuilt root; it must be above every serial recorded or seen "
    "[default: one above them].",
)
@click.option("--force", is_flag=True, help="Write a valid root again, same projects, serial + 1.")
@click.option(
    "--choose",
    metavar="SHA",
    help="Which recorded root to write when the newest serial has several (8+ hex digits).",
)
@click.option(
    "--without-history",
    is_flag=True,
    help="On an index without history: rebuild from the project documents anyway (needs "
    "--serial; may undo a yank).",
)
@keys_option
@json_option
def repair_command(
    index_url: str | None,
    timeout: float | None,
    serial: int | None,
    force: bool,
    choose: str | None,
    without_history: bool,
    keys: Path | None,
    as_json: bool,
) -> None:
    """Write a lost or damaged index.json again, from the root history every swap records.

    Yanks and their reasons come back as they were, and the serial goes above every serial
    recorded, so workers accept the repaired root.  On an index without history (written by an
    older dioptra-plugins) it refuses: it cannot know the order of yanks nor the highest serial
    workers accepted, unless you state it (--serial N --without-history).  A signed index
    needs --keys, and only a rebuilt root holding exactly the signed content is signed.
    """

    from dioptra_plugins.publishing.operations import repair

    result = repair(
        index=open_index(index_url, timeout),
        keys=keys,
        serial=serial,
        force=force,
        choose=choose,
        without_history=without_history,
    )
    if as_json:
        emit_json(asdict(result))
        return
    for key in result.skipped_documents:
        say(f"skipped damaged or missing: {key}")
    for key in result.missing_bundles:
        say(f"left out (bundle missing): {key}")
    say(
        f"{result.url}: rebuilt index.json ({result.previous_root} before) from {result.source} "
        f"at serial {result.serial} with {len(result.projects)} projects, "
        f"{sum(result.projects.values())} files"
    )
    if result.signed:
        say(describe_signing(result.signed))


@index_group.command("site")
@index_option("index_url")
@json_option
def site_command(index_url: str | None, timeout: float | None, as_json: bool) -> None:
    """Write the task catalogue: static HTML under site/ of the index.

    A home page with every project and a search over tasks, and a page per project; publish,
    yank and unyank keep it current.  Open site/index.html from the index directory, a static
    host, S3 website hosting or a CDN.
    """
    from dioptra_plugins.catalogue import write_site

    result = write_site(open_index(index_url, timeout))
    if as_json:
        emit_json(asdict(result))
        return
    say(
        f"{result.url}: catalogue of serial {result.serial}, {result.projects} projects, "
        f"{result.tasks} tasks; wrote {len(result.written)} pages under site/"
    )
    home = Path(result.url) / "site" / "index.html"
    if "://" not in result.url and home.is_file():
        say(f"open {home.resolve().as_uri()}")


@index_group.command("check")
@index_option("index_url")
@_trust_option
@json_option
def check_command(
    index_url: str | None, timeout: float | None, trust: str | None, as_json: bool
) -> None:
    """Check that every object the root reaches exists with the right hash (exit 1 if not).

    With --trust, the root the signed metadata pins, and every way the unsigned documents
    disagree with the signed metadata is a problem too.
    """
    report = check_index(index=open_index(index_url, timeout), trust=trust or None)
    document = {
        "url": report.url,
        "ok": report.ok,
        "serial": report.serial,
        "projects": report.projects,
        "files": report.files,
        "problems": report.problems,
        "unreferenced": report.unreferenced,
    }
    if report.trusted:
        document |= {
            "trusted": True,
            "unsigned_serial": report.unsigned_serial,
            "disagreements": [d.to_json() for d in report.disagreements],
        }
    signed = "signed " if report.trusted else ""
    emit_report(
        as_json,
        document,
        [
            ("damaged", report.problems),
            ("not signed", [d.message for d in report.disagreements]),
            ("unreferenced", report.unreferenced),
        ],
        len(report.problems) + len(report.disagreements),
        lambda verdict: (
            f"{report.url}: {signed}serial {report.serial}, {report.projects} projects, "
            f"{report.files} files, {len(report.unreferenced)} unreferenced objects: {verdict}"
        ),
    )


index_group.add_command(refresh_command)
index_group.add_command(renew_command)

COMMANDS: list[click.Command] = [index_group]
