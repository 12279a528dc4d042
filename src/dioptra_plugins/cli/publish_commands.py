"""``publish``, ``yank`` and ``unyank``: putting bundles into an index and marking them.

``publish git+URL`` builds before it publishes (``git_publish``); the ``index`` group
creates, inspects and repairs an index (``index_commands``).
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import asdict
from pathlib import Path

import click

from dioptra_plugins.cli.key_commands import describe_signing, keys_option
from dioptra_plugins.cli.options import index_option, json_option, open_index
from dioptra_plugins.cli.output import emit_json, is_quiet, say
from dioptra_plugins.errors import UsageError
from dioptra_plugins.publishing.yank import parse_pin


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
@click.argument("sources", nargs=-1)
@index_option("index_url")
@click.option("--dry-run", is_flag=True, help="Verify and compare with the index; write nothing.")
@click.option(
    "--runtime",
    is_flag=True,
    help="Also publish a wheel of this dioptra-plugins, the runtime every bundle requires, so "
    "that pip and uv can install bundles from the index (workers never sync it).",
)
@click.option(
    "--version",
    "version",
    help="With a git+ source: version of bare package folders (Dioptra's commits carry no tags).",
)
@keys_option
@json_option
def publish_command(
    sources: tuple[str, ...],
    index_url: str | None,
    timeout: float | None,
    dry_run: bool,
    version: str | None,
    runtime: bool,
    keys: Path | None,
    as_json: bool,
) -> None:
    """Verify WHEELs and publish them to the index in one step (signed with --keys).

    A source may instead be one git URL (git+file:///repo@REF#subdirectory=DIR, git+https://,
    git+ssh://): every package its dioptra.toml or [tool.dioptra-plugins] declares is built
    from the commit and published, except those whose source tree the index already has.
    """
    if not sources and not runtime:
        raise UsageError("nothing to publish: give WHEELs, a git+ URL or --runtime")
    storage = open_index(index_url, timeout)
    if any(source.startswith("git+") for source in sources):
        if runtime:
            raise UsageError("publish --runtime on its own or with wheels, not with a git+ URL")
        from dioptra_plugins.cli.git_publish import publish_git_source

        publish_git_source(
            storage, sources, version=version, dry_run=dry_run, keys=keys, as_json=as_json
        )
        return
    if version is not None:
        raise UsageError("--version is for a git+ source; a wheel has its version already")
    wheels = tuple(Path(source) for source in sources)
    from dioptra_plugins.publishing.operations import publish

    with contextlib.ExitStack() as stack:
        if runtime:
            from dioptra_plugins.bundle.runtime import build_runtime

            built = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="dioptra-")))
            wheels += (build_runtime(built),)
        total = 0 if dry_run else sum(w.stat().st_size for w in wheels if w.is_file())
        with _byte_progress(total, f"uploading {len(wheels)} bundles") as sent:
            result = publish(list(wheels), index=storage, keys=keys, sent=sent, dry_run=dry_run)
    if as_json:
        emit_json({**asdict(result), "dry_run": dry_run})
        return
    for file in result.files:
        say(f"{file.status}: {file.filename}  sha256={file.sha256}")
    say(f"{result.url}: serial {result.serial}{' (dry run)' if dry_run else ''}")
    if result.signed:
        say(describe_signing(result.signed))


def _set_yanked(
    pin: str,
    yanked: bool,
    reason: str | None,
    index_url: str | None,
    timeout: float | None,
    keys: Path | None,
    as_json: bool,
) -> None:
    from dioptra_plugins.publishing.operations import unyank, yank

    name, version = parse_pin(pin)
    storage = open_index(index_url, timeout)
    if yanked:
        result = yank(name, version, index=storage, reason=reason, keys=keys)
    else:
        result = unyank(name, version, index=storage, keys=keys)
    signing = result.signed
    if as_json:
        emit_json(asdict(result))
        return
    word = "yanked" if yanked else "unyanked"
    state = word if result.changed else f"already {word}"
    say(f"{state}: {result.name} {result.version} (serial {result.serial})")
    if signing:
        say(describe_signing(signing))


def _yank_command(name: str, yanked: bool, help_text: str) -> click.Command:
    """``yank`` or ``unyank``: one pin, the index, the keys; only a yank takes a ``--reason``."""

    def command(
        pin: str,
        index_url: str | None,
        timeout: float | None,
        keys: Path | None,
        as_json: bool,
        reason: str | None = None,
    ) -> None:
        _set_yanked(pin, yanked, reason, index_url, timeout, keys, as_json)

    decorated = index_option("index_url")(keys_option(json_option(command)))
    if yanked:
        why = "Why the version was yanked (shown to users and pip)."
        decorated = click.option("--reason", help=why)(decorated)
    decorated = click.argument("pin", metavar="NAME==VERSION")(decorated)
    return click.command(name, help=help_text)(decorated)


yank_command = _yank_command(
    "yank", True, "Mark every file of NAME==VERSION as yanked: sync skips it unless pinned exactly."
)
unyank_command = _yank_command("unyank", False, "Undo a yank of NAME==VERSION.")


COMMANDS: list[click.Command] = [publish_command, yank_command, unyank_command]
