"""The ``dioptra-plugins`` command: a click group whose subcommands live one area per module.

This is the only place where library errors become messages and exit codes (DESIGN §8).
"""

from __future__ import annotations

import logging
import sys
from typing import Any

import click

from dioptra_plugins import __version__
from dioptra_plugins.errors import DioptraPluginsError


class Group(click.Group):
    """A click group that turns library errors into one clean message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except DioptraPluginsError as error:
            click.echo(f"error: {error}", err=True)
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            ctx.exit(130)


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dioptra-plugins")
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-vv for debug).")
@click.option("--log-json", is_flag=True, help="Log as JSON lines on stderr.")
def main(verbose: int, log_json: bool) -> None:
    """Publish, sync and hot-reload Dioptra task plugins."""
    from dioptra_plugins.logging import configure

    level = logging.WARNING - 10 * min(verbose, 2)
    configure(level=level, as_json=log_json, stream=sys.stderr)


def _register_commands() -> None:
    # One module per area; each exposes click commands that this group adds.
    from dioptra_plugins.cli import bundle_commands

    for command in bundle_commands.COMMANDS:
        main.add_command(command)

    from dioptra_plugins.cli import index_commands

    for command in index_commands.COMMANDS:
        main.add_command(command)

    from dioptra_plugins.cli import run_commands

    for command in run_commands.COMMANDS:
        main.add_command(command)

    from dioptra_plugins.cli import sync_commands

    for command in sync_commands.COMMANDS:
        main.add_command(command)

    from dioptra_plugins.cli import registry_commands

    for command in registry_commands.COMMANDS:
        main.add_command(command)


_register_commands()
