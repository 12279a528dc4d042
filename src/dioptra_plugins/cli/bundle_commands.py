"""``build`` and ``inspect``: making bundles and looking inside them."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import click

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.cli.options import json_option
from dioptra_plugins.cli.output import emit_json, emit_table, say


@click.command()
@click.argument("sources", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option(
    "-o",
    "--out-dir",
    default="dist",
    show_default=True,
    type=click.Path(path_type=Path),
    help="Directory that receives the wheels.",
)
@click.option("--version", "version", help="Version for a bare package folder.")
@click.option(
    "--requires",
    multiple=True,
    metavar="REQUIREMENT",
    help="Dependency of a bare package folder (repeatable).",
)
@click.option(
    "--namespace",
    metavar="NAMESPACE",
    help="Build a bare package folder as a portion of this namespace package "
    "(dioptra_custom: the folder becomes dioptra_custom.<folder>).",
)
@click.option(
    "--name",
    "project_name",
    metavar="NAME",
    help="Project name of a bare package folder (default: its import name, dots as dashes).",
)
@json_option
def build(
    sources: tuple[Path, ...],
    out_dir: Path,
    version: str | None,
    requires: tuple[str, ...],
    namespace: str | None,
    project_name: str | None,
    as_json: bool,
) -> None:
    """Build plugin packages into bundles (reproducible wheels made by hatchling).

    Each SOURCE is a hatchling project directory or a bare package folder (then --version is
    required): a regular package, or a namespace package without __init__.py, as Dioptra's
    task-plugins/dioptra_builtins.  With --namespace a folder is one portion of a namespace
    shared by several bundles (dioptra_custom/<example>).  Plugin code is never imported:
    tasks are read from the syntax tree.
    """
    if project_name is not None and len(sources) > 1:
        raise click.UsageError("--name names one bundle: give one SOURCE with it")

    def one(source: Path) -> dict[str, object]:
        wheel = build_bundle(
            source,
            out_dir,
            version=version,
            requires=requires,
            name=project_name,
            namespace=namespace,
        )
        bundle = verify_wheel(wheel)
        return {
            "wheel": str(wheel),
            "name": bundle.name,
            "version": bundle.version,
            "package": bundle.top_level,
            "sha256": bundle.sha256,
            "tasks": len(bundle.manifest.get("tasks", [])),
        }

    # Each build runs hatchling in its own process, so threads build in parallel; results are
    # reported in the order the sources were given.  The first failure stops the rest.
    built: list[dict[str, object]] = []
    with ThreadPoolExecutor(max_workers=max(1, min(len(sources), os.cpu_count() or 1))) as pool:
        futures = [pool.submit(one, source) for source in sources]
        try:
            for future in futures:
                built.append(future.result())
                if not as_json:
                    b = built[-1]
                    say(f"built {b['wheel']}  sha256={b['sha256']}  tasks={b['tasks']}")
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    if as_json:
        emit_json({"built": built})


@click.command()
@click.argument("wheel", type=click.Path(path_type=Path))
@json_option
def inspect(wheel: Path, as_json: bool) -> None:
    """Verify a bundle and show its name, version, requirements, files, hashes and tasks."""
    bundle = verify_wheel(wheel)
    if as_json:
        document = dataclasses.asdict(bundle)
        document["path"] = str(bundle.path)
        emit_json(document)
        return
    click.echo(f"{bundle.name} {bundle.version}  ({bundle.filename})")
    click.echo(f"sha256           {bundle.sha256}")
    click.echo(f"size             {bundle.size}")
    click.echo(f"package          {bundle.top_level}")
    click.echo(f"requires-python  {bundle.requires_python or '-'}")
    click.echo(f"requires         {', '.join(bundle.requires_dist) or '-'}")
    click.echo("")
    emit_table(["file", "size", "sha256"], [(f.path, f.size, f.sha256) for f in bundle.files])
    click.echo("")
    tasks = bundle.manifest.get("tasks", [])
    emit_table(
        ["task", "signature", "description"],
        [(f"{t['module']}.{t['function']}", t["signature"], t["doc"]) for t in tasks],
    )


COMMANDS: list[click.Command] = [build, inspect]
