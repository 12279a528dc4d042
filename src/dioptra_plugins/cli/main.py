"""The ``dioptra-plugins`` command: a click group whose subcommands live one area per module.

This is the only place where library errors become messages and exit codes (DESIGN §8).
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable
from typing import Any

import click

from dioptra_plugins import __version__

# `logging` and `dioptra_plugins.errors` are imported where they are used: `--help` and
# `--version` need neither (tests/test_cli_startup.py lists what they may not import).

# Command name -> the module (one per area) that defines it.  Modules are imported only when
# their command runs, so `dioptra-plugins sync` never pays for importing build or run code.
COMMAND_MODULES = {
    "build": "bundle_commands",
    "inspect": "bundle_commands",
    "index": "index_commands",
    "publish": "publish_commands",
    "yank": "publish_commands",
    "unyank": "publish_commands",
    "keys": "key_commands",
    "run": "run_commands",
    "sync": "sync_commands",
    "list": "sync_commands",
    "verify": "sync_commands",
    "rollback": "sync_commands",
    "gc": "sync_commands",
    "tasks": "registry_commands",
    "call": "registry_commands",
    "watch": "registry_commands",
}

# Command name -> its one-line help as `dioptra-plugins --help` lists it (click's short help
# before truncation: the first sentence of the docstring).  Listing the commands from this table
# instead of asking each command imports no command module, which `--help` would otherwise pay
# for every area (~300 modules).  tests/test_cli_startup.py checks it against every command's
# real short help, so it cannot drift.
COMMAND_HELP = {
    "build": "Build plugin packages into bundles (reproducible wheels made by hatchling).",
    "call": "Call task plugin FUNC of PACKAGE.PLUGIN and print its result (as JSON if it can).",
    "gc": "Delete old generations and the store entries and cached bundles nothing uses.",
    "index": "Create and inspect an index of bundles.",
    "inspect": (
        "Verify a bundle and show its name, version, requirements, files, hashes and tasks."
    ),
    "keys": "Keys of a signed index: generate them, rotate one.",
    "list": "List the current generation's plugin packages, bundle hashes and tasks.",
    "publish": "Verify WHEELs and publish them to the index in one step (signed with --keys).",
    "rollback": "Switch the plugin dir back to an earlier generation, atomically.",
    "run": "Run ENTRY_POINT of the MLproject in PROJECT_DIR; exit with the command's exit code.",
    "sync": "Sync the plugin dir to REQUIREMENTs (PEP 508: name>=1,<2), atomically.",
    "tasks": (
        "List the registered task plugins (of PACKAGE, or of every package in the plugin dirs)."
    ),
    "unyank": "Undo a yank of NAME==VERSION.",
    "verify": (
        "Re-hash every store file against its RECORD and check every link; exit 1 on a difference."
    ),
    "watch": (
        "Import the plugins in DIRS (default: $DIOPTRA_PLUGIN_DIR) and reload them on every save."
    ),
    "yank": "Mark every file of NAME==VERSION as yanked: sync skips it unless pinned exactly.",
}


def short_help(text: str, limit: int) -> str:
    """``text`` cut to ``limit`` characters at a word boundary, as click cuts a command's
    default short help (``Command.get_short_help_str``)."""
    if len(text) <= limit:
        return text
    if limit < len("..."):
        return "..."
    import textwrap

    return textwrap.shorten(text, limit, placeholder="...", break_on_hyphens=False)


# Commands whose library call notes what it changes (dioptra_plugins.signals) before it writes
# anything: until then an interrupt still says "nothing changed".
NOTES_ITS_CHANGES = frozenset({"sync"})


def _click_details(error: click.ClickException) -> dict[str, Any]:
    """The facts of a usage error click found: which parameter (its name and its flags)."""
    param = getattr(error, "param", None)
    if not isinstance(param, click.Parameter):
        return {}
    flags = list(getattr(param, "opts", [])) + list(getattr(param, "secondary_opts", []))
    return {"parameter": param.name, "flags": flags}


def _leaf_command(group: click.Group, ctx: click.Context, tokens: list[str]) -> click.Command:
    """The (sub)command that ran (``tokens``: the arguments after its name, read before click
    consumed them): its options are the flags of its parameters."""
    name = ctx.invoked_subcommand
    command: click.Command = (name and group.get_command(ctx, name)) or group
    for token in tokens:
        if not isinstance(command, click.Group):
            break
        sub = None if token.startswith("-") else command.get_command(ctx, token)
        if sub is not None:
            command = sub
    return command


def _in_flags(error: Exception, command: click.Command) -> tuple[str, dict[str, str]]:
    """The message with each blamed parameter (```name```) written as the option that sets it
    on ``command`` (or its argument's metavar), and that mapping; a parameter the command
    lacks keeps its name."""
    message = str(error)
    flags: dict[str, str] = {}
    for name in getattr(error, "parameters", ()):
        # By name, or by its flag when the command's variable is named otherwise (``--name``
        # sets ``project_name`` in ``build``, ``name=`` in Python).
        flag = "--" + name.replace("_", "-")
        for param in command.params:
            if param.name == name or flag in param.opts:
                long = [opt for opt in param.opts if opt.startswith("--")]
                shown = long[0] if long else param.opts[0]
                if isinstance(param, click.Argument):
                    shown = param.human_readable_name
                message = message.replace(f"`{name}`", shown)
                flags[name] = shown
                break
    return message, flags


class Group(click.Group):
    """A lazily loading click group that turns library errors into a message and an exit code."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(super().list_commands(ctx)) | set(COMMAND_MODULES))

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The command list of ``--help`` from :data:`COMMAND_HELP`: no command module is
        imported to print it.  A command missing from the table (or already loaded) is asked,
        as click asks."""
        names = self.list_commands(ctx)
        if not names:
            return
        limit = formatter.width - 6 - max(len(name) for name in names)
        rows = []
        for name in names:
            text = COMMAND_HELP.get(name) if name not in self.commands else None
            if text is not None:
                rows.append((name, short_help(text, limit)))
                continue
            command = self.get_command(ctx, name)
            if command is not None and not command.hidden:
                rows.append((name, command.get_short_help_str(limit)))
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in NOTES_ITS_CHANGES:
            from dioptra_plugins.signals import note_command_started

            note_command_started()  # an interrupt before this point changed nothing
        module_name = COMMAND_MODULES.get(cmd_name)
        if module_name is not None and cmd_name not in self.commands:
            module = importlib.import_module(f"dioptra_plugins.cli.{module_name}")
            for command in module.COMMANDS:
                _add_quiet_option(command)
                self.add_command(command)
        return super().get_command(ctx, cmd_name)

    def invoke(self, ctx: click.Context) -> Any:
        # A usage error can stop parsing before --json's own callback ran (`sync x --jobs 0
        # --json`): the raw arguments say whether a JSON document is owed.
        wants_json = "--json" in ctx.args
        tokens = list(ctx.args)  # click empties them: the failing subcommand is found in them
        try:
            return super().invoke(ctx)
        except click.ClickException as error:
            if not wants_json:
                raise
            from dioptra_plugins.cli.output import emit_json

            error.show()
            document = {"error": error.format_message(), "kind": "UsageError"}
            emit_json(document | {"exit_code": error.exit_code, "details": _click_details(error)})
            ctx.exit(error.exit_code)
        except KeyboardInterrupt:
            # In-process callers (the console script's own handlers raise signals.Interrupted,
            # which cli.entry reports): the same true last line.
            from dioptra_plugins.signals import last_line

            click.echo(last_line(), err=True)
            ctx.exit(130)
        except click.exceptions.Exit:
            # A command's --help (or any ctx.exit) ends here: not an error, so the error family
            # below is not imported for it (that import is ~3 ms of `sync --help`).
            raise
        except Exception as error:
            from dioptra_plugins.errors import DioptraPluginsError

            if not isinstance(error, DioptraPluginsError):
                raise
            from dioptra_plugins.cli.output import emit_json, output

            message, flags = _in_flags(error, _leaf_command(self, ctx, tokens))
            click.echo(f"error: {message}", err=True)
            # A usage error the parsing itself raised (a callback checking --timeout) can come
            # before --json was read: the raw arguments say a JSON document is owed, as above.
            if output(ctx).json or (wants_json and error.exit_code == 2):
                emit_json(
                    {
                        "error": message,
                        "kind": type(error).__name__,
                        "exit_code": error.exit_code,
                        "details": error.details() | ({"flags": flags} if flags else {}),
                    }
                )
            ctx.exit(error.exit_code)


def _quiet(ctx: click.Context, _param: click.Parameter, value: bool) -> None:
    if value:
        import logging

        from dioptra_plugins.cli.output import output

        output(ctx).quiet = True
        logging.getLogger().setLevel(logging.ERROR)


def _verbose(ctx: click.Context, _param: click.Parameter, value: int) -> None:
    if value:
        root = ctx.find_root().params
        _configure_logging(root.get("verbose", 0) + value, root.get("log_json", False))


def _add_quiet_option(command: click.Command) -> None:
    """Every command (and every subcommand of a group) takes ``-q/--quiet`` and ``-v``, before
    or after the command name, as pip's and uv's do."""
    if isinstance(command, click.Group):
        for sub in command.commands.values():
            _add_quiet_option(sub)
    for option in _every_commands_options():
        if not any(param.name == option.name for param in command.params):
            command.params.append(option)


def _every_commands_options() -> list[click.Option]:
    """``-v`` and ``-q`` as each command takes them (new objects: one set a command)."""
    return [
        _eager_flag(
            ["-v", "--verbose"],
            _verbose,
            "More log output on stderr (-vv: debug; -vvv: botocore's and urllib3's).",
            count=True,
        ),
        _eager_flag(
            ["-q", "--quiet"],
            _quiet,
            "Print no status lines or progress (errors, listings and JSON still print).",
            is_flag=True,
        ),
    ]


def _eager_flag(
    flags: list[str], callback: Callable[..., None], help_text: str, **kind: bool
) -> click.Option:
    """A flag acted on by its callback as soon as it is parsed, never passed to the command."""
    return click.Option(
        flags, expose_value=False, is_eager=True, callback=callback, help=help_text, **kind
    )


@click.group(cls=Group, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="dioptra-plugins")
@click.option(
    "-v",
    "--verbose",
    count=True,
    help="More log output on stderr (-vv: debug; -vvv: botocore's and urllib3's too).",
)
@click.option("--log-json", is_flag=True, help="Log as JSON lines on stderr.")
def main(verbose: int, log_json: bool) -> None:
    """Publish, sync and hot-reload Dioptra task plugins."""
    _configure_logging(verbose, log_json)


def _configure_logging(verbose: int, log_json: bool) -> None:
    import logging

    from dioptra_plugins.logging import configure

    level = logging.WARNING - 10 * min(verbose, 2)
    configure(level=level, as_json=log_json, stream=sys.stderr)
    # -v and -vv are about what dioptra-plugins does; botocore's and urllib3's debug output
    # (every header of every request) and their retries only with -vvv.
    for noisy in ("botocore", "boto3", "urllib3", "s3transfer", "watchdog", "filelock"):
        logging.getLogger(noisy).setLevel(
            logging.NOTSET if verbose >= 3 else max(level, logging.ERROR)
        )
