"""``build`` and ``inspect``: making bundles and looking inside them."""

from __future__ import annotations

import dataclasses
import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import click

from dioptra_plugins.bundle.operations import build as build_source
from dioptra_plugins.bundle.provenance import PROVENANCE_KEY, summary
from dioptra_plugins.bundle.rebuild import rebuild_bundle
from dioptra_plugins.bundle.verify import VerifiedBundle, verify_wheel
from dioptra_plugins.cli.options import json_option
from dioptra_plugins.cli.output import emit_json, emit_table, say


@click.command()
@click.argument("sources", nargs=-1, required=True)
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
@click.option(
    "--allow-dirty",
    is_flag=True,
    help="Build a work-tree folder with uncommitted changes (recorded as dirty: true).",
)
@json_option
def build(
    sources: tuple[str, ...],
    out_dir: Path,
    version: str | None,
    requires: tuple[str, ...],
    namespace: str | None,
    project_name: str | None,
    allow_dirty: bool,
    as_json: bool,
) -> None:
    """Build plugin packages into bundles (reproducible wheels made by hatchling).

    Each SOURCE is a hatchling project directory or a bare package folder (then --version is
    required): a regular package, or a namespace package without __init__.py, as Dioptra's
    task-plugins/dioptra_builtins.  With --namespace a folder is one portion of a namespace
    shared by several bundles (dioptra_custom/<example>).  Plugin code is never imported:
    tasks are read from the syntax tree.

    A SOURCE may be a git URL, git+file:///repo@REF#subdirectory=DIR (also git+https://,
    git+ssh://), or a folder of a git work tree: the commit is built, reproducibly, and recorded
    in the bundle (a folder with uncommitted changes is refused unless --allow-dirty).  A
    subdirectory holding a dioptra.toml or [tool.dioptra-plugins] packages builds each package
    it declares.  A bare folder's version: --version, else a tag at REF (v1.2.0 -> 1.2.0).
    """
    if project_name is not None and len(sources) > 1:
        raise click.UsageError("--name names one bundle: give one SOURCE with it")

    def one(source: str) -> list[dict[str, object]]:
        wheels = build_source(
            source,
            out_dir=out_dir,
            version=version,
            requires=requires,
            name=project_name,
            namespace=namespace,
            allow_dirty=allow_dirty,
        )
        return [_built(verify_wheel(wheel)) for wheel in wheels]

    # Each build runs hatchling in its own process, so threads build in parallel; results are
    # reported in the order the sources were given.  The first failure stops the rest.
    built: list[dict[str, object]] = []
    with ThreadPoolExecutor(max_workers=max(1, min(len(sources), os.cpu_count() or 1))) as pool:
        futures = [pool.submit(one, source) for source in sources]
        try:
            for future in futures:
                for b in future.result():
                    built.append(b)
                    if not as_json:
                        line = f"built {b['wheel']}  sha256={b['sha256']}  tasks={b['tasks']}"
                        if b["provenance"]:
                            line += f"  {summary(b['provenance'])}"  # type: ignore[arg-type]
                        say(line)
        except BaseException:
            for future in futures:
                future.cancel()
            raise
    if as_json:
        emit_json({"built": built})


def _built(bundle: VerifiedBundle) -> dict[str, object]:
    return {
        "wheel": str(bundle.path),
        "name": bundle.name,
        "version": bundle.version,
        "package": bundle.top_level,
        "sha256": bundle.sha256,
        "tasks": len(bundle.manifest.get("tasks", [])),
        "provenance": bundle.manifest.get(PROVENANCE_KEY),
    }


@click.command()
@click.argument("wheel", type=click.Path(path_type=Path))
@click.option(
    "--rebuild",
    is_flag=True,
    help="Fetch the commit the bundle records, build it again and compare byte for byte "
    "(exit 1 naming every differing file; also for a dirty or source-less bundle).",
)
@json_option
def inspect(wheel: Path, rebuild: bool, as_json: bool) -> None:
    """Verify a bundle and show its name, version, requirements, files, hashes and tasks."""
    bundle = verify_wheel(wheel)
    rebuilt: dict[str, Any] | None = None
    if rebuild:
        result = rebuild_bundle(wheel)
        rebuilt = {"identical": True, "sha256": result.rebuilt_sha256}
    if as_json:
        document = dataclasses.asdict(bundle)
        document["path"] = str(bundle.path)
        document["provenance"] = bundle.manifest.get(PROVENANCE_KEY)
        if rebuilt is not None:
            document["rebuild"] = rebuilt
        emit_json(document)
        return
    click.echo(f"{bundle.name} {bundle.version}  ({bundle.filename})")
    click.echo(f"sha256           {bundle.sha256}")
    click.echo(f"size             {bundle.size}")
    click.echo(f"package          {bundle.top_level}")
    click.echo(f"requires-python  {bundle.requires_python or '-'}")
    click.echo(f"requires         {', '.join(bundle.requires_dist) or '-'}")
    _echo_provenance(bundle.manifest.get(PROVENANCE_KEY))
    if rebuilt is not None:
        click.echo("rebuild          byte-identical to what its commit builds")
    click.echo("")
    emit_table(["file", "size", "sha256"], [(f.path, f.size, f.sha256) for f in bundle.files])
    click.echo("")
    tasks = bundle.manifest.get("tasks", [])
    emit_table(
        ["task", "signature", "description"],
        [(f"{t['module']}.{t['function']}", t["signature"], t["doc"]) for t in tasks],
    )
    _echo_declared(bundle.manifest.get("dioptra"))


def _echo_provenance(provenance: dict[str, Any] | None) -> None:
    if not provenance:
        click.echo("source           - (not built from git)")
        return
    click.echo(f"source           {provenance['url']}")
    click.echo(f"commit           {provenance['commit']}")
    click.echo(f"requested ref    {provenance.get('requested_ref') or '-'}")
    click.echo(f"subdirectory     {provenance['subdirectory'] or '-'}")
    click.echo(f"tree             {provenance['tree']}")
    click.echo(f"dirty            {'yes' if provenance['dirty'] else 'no'}")


def _params(params: list[dict[str, Any]]) -> str:
    shown = []
    for p in params:
        optional = "" if p.get("required", True) else "?"
        shown.append(f"{p['name']}{optional}: {p['type']}")
    return ", ".join(shown) or "-"


def _echo_declared(section: dict[str, Any] | None) -> None:
    """What a dioptra.toml declared: description, parameters, artifact tasks, types."""
    if not section:
        return
    click.echo("")
    click.echo(f"dioptra.toml     {section.get('description') or '-'}")
    rows = [
        (f"{f['module']}.{f['function']}", _params(f["input_params"]), _params(f["output_params"]))
        for f in section.get("functions", [])
    ]
    rows += [
        (f"{a['module']}.{a['class']} (artifact)", "-", _params(a["output_params"]))
        for a in section.get("artifacts", [])
    ]
    if rows:
        emit_table(["declared task", "inputs", "outputs"], rows)
    types = section.get("plugin_param_types", [])
    if types:
        click.echo("")
        described = [(t["name"], t["description"]) for t in types]
        emit_table(["parameter type", "description"], described)


COMMANDS: list[click.Command] = [build, inspect]
