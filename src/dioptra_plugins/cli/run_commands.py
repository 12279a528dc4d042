"""``dioptra-plugins run``: run an MLproject entry point on synced plugins."""

from __future__ import annotations

import os
from pathlib import Path

import click

from dioptra_plugins.cli.options import index_option, plugin_dir_option
from dioptra_plugins.entrypoints.params import parse_assignments
from dioptra_plugins.entrypoints.run import RunRequest, run_entry_point


@click.command("run")
@click.argument("project_dir", type=click.Path(exists=True, file_okay=False, path_type=Path))
@click.option("-e", "--entry-point", default="main", show_default=True, help="Entry point name.")
@click.option(
    "-P",
    "--param",
    "params",
    multiple=True,
    metavar="NAME=VALUE",
    help="A parameter value (repeatable); undeclared names are passed as --NAME VALUE.",
)
@click.option(
    "--sync",
    "requirements",
    multiple=True,
    metavar="REQUIREMENT",
    help="Sync these plugin requirements first (repeatable), e.g. 'dioptra-builtins>=1,<2'.",
)
@click.option(
    "-r",
    "--requirements",
    "requirements_file",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="Sync the requirements in this file first (default: plugins.txt beside MLproject).",
)
@click.option(
    "--no-sync",
    is_flag=True,
    help="Do not sync the project's plugins.txt; use the plugin dir as it is.",
)
@index_option()
@plugin_dir_option(
    type=click.Path(file_okay=False, path_type=Path),
)
@click.option(
    "--output-dir",
    type=click.Path(file_okay=False, path_type=Path),
    help="Write run.json and the generation's pylock.toml here.",
)
def run_command(
    project_dir: Path,
    entry_point: str,
    params: tuple[str, ...],
    requirements: tuple[str, ...],
    requirements_file: Path | None,
    no_sync: bool,
    index: str | None,
    timeout: float | None,
    plugin_dir: Path | None,
    output_dir: Path | None,
) -> None:
    """Run ENTRY_POINT of the MLproject in PROJECT_DIR; exit with the command's exit code.

    Parameters are checked against the MLproject and shell-quoted into the command.  Plugins
    are synced first when --sync, -r or a plugins.txt beside MLproject asks for it, and the
    command runs with DIOPTRA_PLUGIN_DIR pinned to the plugin dir's current generation.
    """
    if no_sync and (requirements or requirements_file):
        raise click.UsageError("--no-sync cannot be combined with --sync or -r")
    request = RunRequest(
        project_dir=project_dir,
        entry_point=entry_point,
        parameters=parse_assignments(params),
        requirements=requirements,
        requirements_file=requirements_file,
        use_project_plugins=not no_sync,
        index=index,
        timeout=timeout,
        plugin_dir=plugin_dir,
        output_dir=output_dir.absolute() if output_dir else None,
        environment=_job_log_settings(),
    )
    result = run_entry_point(request)
    click.get_current_context().exit(result.exit_code)


def _job_log_settings() -> dict[str, str]:
    """Pass ``--log-json`` and ``-v`` on to the command (for ``logging.configure()`` in it),
    unless the caller set the job's log variables explicitly."""
    root = click.get_current_context().find_root().params
    settings: dict[str, str] = {}
    if root.get("log_json") and "DIOPTRA_JOB_LOG_AS_JSON" not in os.environ:
        settings["DIOPTRA_JOB_LOG_AS_JSON"] = "true"
    verbose = int(root.get("verbose") or 0)
    if verbose and "DIOPTRA_JOB_LOG_LEVEL" not in os.environ:
        settings["DIOPTRA_JOB_LOG_LEVEL"] = "DEBUG" if verbose > 1 else "INFO"
    return settings


COMMANDS: list[click.Command] = [run_command]
