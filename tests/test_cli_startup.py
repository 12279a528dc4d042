"""Start-up cost: a command imports only what it needs (issue 26, "Fixed cost").

Deterministic, not timed: each case runs the real console-script entry point in a fresh
interpreter and reads the names in ``sys.modules`` when it exits.  ``--help`` lists the
commands from ``cli.main.COMMAND_HELP`` instead of importing every command module; the table
is checked here against each command's real short help so that it cannot drift.
"""

from __future__ import annotations

import functools
import http.server
import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import click
import pytest

from dioptra_plugins.cli.main import COMMAND_HELP, COMMAND_MODULES, Group, main, short_help
from s3servers import S3Server
from wheelfactory import WheelSpec

# Runs the console script (signal handlers first, as installed) and writes the names of the
# loaded modules to the file named by argv[1] when the interpreter exits.
LAUNCHER = """
import atexit, sys
out = sys.argv[1]
def dump():
    with open(out, "w") as f:
        f.write("\\n".join(sorted(sys.modules)))
atexit.register(dump)
sys.argv = ["dioptra-plugins", *sys.argv[2:]]
from dioptra_plugins.cli.entry import main
main()
"""

# What no start-up path below may import: other areas' command modules and libraries, the
# signing stack, the build backend, S3's client.
HEAVY = (
    "dioptra_plugins.bundle.build",
    "dioptra_plugins.bundle.verify",
    "dioptra_plugins.catalogue",
    "dioptra_plugins.entrypoints",
    "dioptra_plugins.publishing.yank",
    "dioptra_plugins.registry.registry",
    "dioptra_plugins.cli.bundle_commands",
    "dioptra_plugins.cli.index_commands",
    "dioptra_plugins.cli.publish_commands",
    "dioptra_plugins.cli.key_commands",
    "dioptra_plugins.cli.registry_commands",
    "dioptra_plugins.cli.run_commands",
    "tuf",
    "securesystemslib",
    "hatchling",
    "boto3",
    "botocore",
    "s3transfer",
)
# A no-op (the root unchanged) resolves nothing and installs nothing: none of the bundle
# readers (bundle.manifest would bring dioptra_toml, provenance, git_source and subprocess);
# nor `signal` (with its enums), which only `sync --every` uses.
NOOP_HEAVY = (
    *HEAVY,
    "dioptra_plugins.bundle",
    "dioptra_plugins.syncing.choose",
    "dioptra_plugins.syncing.resolve",
    "dioptra_plugins.syncing.install",
    "subprocess",
    "signal",
)
# Over HTTP (and from S3) the local-directory backend is not needed either.
REMOTE_NOOP_HEAVY = (*NOOP_HEAVY, "dioptra_plugins.index.local")
# Over HTTP the one conditional GET goes on http.client: urllib3 (~35 ms) is for real reads.
HTTP_NOOP_HEAVY = (
    *REMOTE_NOOP_HEAVY,
    "urllib3",
    "dioptra_plugins.index.http_pool",
    # Needed only to build a generation, write state or print wrapped details.
    "secrets",
    "shutil",
    "tempfile",
)
# `--help` and `--version` need click and nothing of the library's.
HELP_HEAVY = (
    *HEAVY,
    "dioptra_plugins.cli.sync_commands",
    "dioptra_plugins.errors",
    "dioptra_plugins.syncing",
    "dioptra_plugins.index",
    "logging",
)


def loaded_modules(tmp_path: Path, *args: str) -> set[str]:
    out = tmp_path / "modules.txt"
    env = {k: v for k, v in os.environ.items() if not k.startswith("DIOPTRA_PLUGINS")}
    subprocess.run(
        [sys.executable, "-c", LAUNCHER, str(out), *args],
        check=True,
        capture_output=True,
        env=env,
        timeout=120,
    )
    return set(out.read_text().split())


def offenders(modules: set[str], heavy: tuple[str, ...]) -> list[str]:
    return sorted(m for m in modules if any(m == h or m.startswith(h + ".") for h in heavy))


def test_the_help_table_names_every_lazy_command() -> None:
    assert set(COMMAND_HELP) == set(COMMAND_MODULES)


@pytest.mark.parametrize("name", sorted(COMMAND_MODULES))
def test_the_help_table_matches_each_commands_real_short_help(name: str) -> None:
    command = main.get_command(click.Context(main), name)
    assert command is not None
    assert not command.hidden
    assert not command.deprecated
    assert command.short_help is None  # click would print an explicit short_help uncut
    for limit in range(1, 130):
        assert short_help(COMMAND_HELP[name], limit) == command.get_short_help_str(limit)


def _commands_section(group: click.Group, width: int) -> str:
    formatter = click.HelpFormatter(width=width)
    group.format_commands(click.Context(group), formatter)
    return formatter.getvalue()


@pytest.mark.parametrize("width", [40, 60, 80, 120, 200])
def test_help_lists_the_commands_as_click_would(width: int) -> None:
    # A fresh group per side: the static side has loaded no command, the stock side all.
    static = Group(name="dioptra-plugins", commands={})
    stock = Group(name="dioptra-plugins", commands={})
    for name in COMMAND_MODULES:
        stock.get_command(click.Context(stock), name)
    assert set(stock.commands) == set(COMMAND_MODULES)
    expected = _commands_section_stock(stock, width)
    assert _commands_section(static, width) == expected
    assert static.commands == {}  # nothing was imported to print it
    # A group whose commands are loaded asks them, and prints the same.
    assert _commands_section(stock, width) == expected


def _commands_section_stock(group: click.Group, width: int) -> str:
    formatter = click.HelpFormatter(width=width)
    click.Group.format_commands(group, click.Context(group), formatter)
    return formatter.getvalue()


@pytest.mark.parametrize("args", [["--help"], ["--version"]])
def test_help_and_version_import_no_command_module(tmp_path: Path, args: list[str]) -> None:
    modules = loaded_modules(tmp_path, *args)
    assert "click" in modules  # the launcher did run the command line
    assert offenders(modules, HELP_HEAVY) == []


def test_a_commands_help_imports_neither_the_index_nor_the_sync_engine(tmp_path: Path) -> None:
    modules = loaded_modules(tmp_path, "sync", "--help")
    assert "dioptra_plugins.cli.sync_commands" in modules
    # Nor the error family: --help ends the command with click's Exit, which is no error.
    heavy = (*HEAVY, "dioptra_plugins.index", "dioptra_plugins.syncing", "dioptra_plugins.errors")
    assert offenders(modules, heavy) == []


def test_the_options_spell_the_librarys_variables() -> None:
    from dioptra_plugins.cli import options
    from dioptra_plugins.index.url import INDEX_VARIABLE
    from dioptra_plugins.plugindir.layout import PLUGIN_DIR_VARIABLE

    assert options.INDEX_VARIABLE == INDEX_VARIABLE
    assert options.PLUGIN_DIR_VARIABLE == PLUGIN_DIR_VARIABLE


@pytest.fixture
def synced_index(tmp_path: Path) -> tuple[Path, Path]:
    """An index holding one bundle and a plugin dir already synced to it."""
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish
    from dioptra_plugins.syncing.engine import sync

    wheel = WheelSpec(metadata_text="Metadata-Version: 2.1\nName: demo_pkg\nVersion: 1.0\n")
    wheels = tmp_path / "wheels"
    wheels.mkdir()
    index = tmp_path / "index"
    publish(open_storage(str(index)), [wheel.write(wheels)])
    plugin_dir = tmp_path / "plugins"
    sync(["demo_pkg"], index=str(index), plugin_dir=plugin_dir)
    return index, plugin_dir


class _Quiet(http.server.SimpleHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def http_url(synced_index: tuple[Path, Path]) -> Iterator[str]:
    handler = functools.partial(_Quiet, directory=str(synced_index[0]))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_a_no_op_sync_from_a_local_index_imports_nothing_heavy(
    tmp_path: Path, synced_index: tuple[Path, Path]
) -> None:
    index, plugin_dir = synced_index
    args = ["sync", "demo_pkg", "--index", str(index), "--plugin-dir", str(plugin_dir)]
    modules = loaded_modules(tmp_path, *args)
    assert "dioptra_plugins.syncing.engine" in modules  # it did sync
    assert offenders(modules, NOOP_HEAVY) == []


def test_a_no_op_sync_over_http_imports_nothing_heavy(
    tmp_path: Path, synced_index: tuple[Path, Path], http_url: str
) -> None:
    from dioptra_plugins.syncing.engine import sync

    plugin_dir = tmp_path / "plugins-http"
    sync(["demo_pkg"], index=http_url, plugin_dir=plugin_dir)  # synced from this very URL
    args = ["sync", "demo_pkg", "--index", http_url, "--plugin-dir", str(plugin_dir)]
    modules = loaded_modules(tmp_path, *args)
    assert "dioptra_plugins.index.http" in modules  # it did read over HTTP
    assert offenders(modules, HTTP_NOOP_HEAVY) == []


# From S3 botocore is the backend (it imports `signal` and `subprocess` itself); boto3 and
# s3transfer are not.
BOTOCORES_OWN = ("botocore", "signal", "subprocess")
S3_NOOP_HEAVY = tuple(m for m in REMOTE_NOOP_HEAVY if m not in BOTOCORES_OWN)


def test_a_no_op_sync_from_s3_imports_nothing_heavy(
    tmp_path: Path, moto_server: S3Server, monkeypatch: pytest.MonkeyPatch
) -> None:
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.publishing.publish import publish
    from dioptra_plugins.syncing.engine import sync

    moto_server.apply(monkeypatch)  # the subprocess inherits the AWS variables
    bucket = moto_server.create_bucket()
    try:
        index = f"s3://{bucket}/plugins"
        wheel = WheelSpec(metadata_text="Metadata-Version: 2.1\nName: demo_pkg\nVersion: 1.0\n")
        publish(open_storage(index), [wheel.write(tmp_path)])
        plugin_dir = tmp_path / "plugins-s3"
        sync(["demo_pkg"], index=index, plugin_dir=plugin_dir)
        args = ["sync", "demo_pkg", "--index", index, "--plugin-dir", str(plugin_dir)]
        modules = loaded_modules(tmp_path, *args)
    finally:
        moto_server.delete_bucket(bucket)
    assert "dioptra_plugins.index.s3" in modules  # it did read from S3
    assert offenders(modules, S3_NOOP_HEAVY) == []
