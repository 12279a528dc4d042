"""``publish git+URL``: the publish command's path for a git source (build, skip, publish)."""

from __future__ import annotations

from dataclasses import asdict
from pathlib import Path

from dioptra_plugins.bundle.git_build import GitBuildOptions
from dioptra_plugins.cli.key_commands import describe_signing
from dioptra_plugins.cli.output import emit_json, output, say
from dioptra_plugins.errors import UsageError
from dioptra_plugins.index.storage import Storage
from dioptra_plugins.publishing.from_git import publish_from_git


def publish_git_source(
    storage: Storage,
    sources: tuple[str, ...],
    *,
    version: str | None,
    dry_run: bool,
    keys: Path | None,
    as_json: bool,
) -> None:
    """Publish the one git source in ``sources`` (a mix with wheel files is a usage error)."""
    if len(sources) != 1:
        raise UsageError("publish takes one git+ source at a time, and no wheel files with it")
    options = GitBuildOptions(version=version)
    result = publish_from_git(
        storage,
        sources[0],
        options,
        dry_run=dry_run,
        progress=None if as_json else output().say,
        keys=keys,
    )
    published = result.published
    signing = published.signed if published else None
    if as_json:
        emit_json(
            {
                "url": storage.url,
                "source": result.url,
                "commit": result.commit,
                "unchanged": [asdict(u) for u in result.unchanged],
                "files": [asdict(f) for f in published.files] if published else [],
                "serial": published.serial if published else None,
                "swapped": published.swapped if published else False,
                "dry_run": dry_run,
                "signed": signing.to_json() if signing else None,
                "requests": storage.requests,
            }
        )
        return
    if published is None:
        say(f"{result.url} at {result.commit[:12]}: every package is unchanged; nothing published")
        return
    for file in published.files:
        say(f"{file.status}: {file.filename}  sha256={file.sha256}")
    say(f"{storage.url}: serial {published.serial}{' (dry run)' if dry_run else ''}")
    if signing:
        say(describe_signing(signing))
