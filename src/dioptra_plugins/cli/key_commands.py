"""``keys generate``, ``keys rotate``, ``index refresh`` and ``index renew`` (issues 14, 21).

Also the pieces the index commands share for signing (``--keys``, ``--timestamp-expiry``, how
a signature is described).  The signing policy itself lives in the library
(``signing.policy``): these commands only parse, call and print.  TUF is imported only inside
the commands, so importing this module (the index commands do) costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dioptra_plugins.cli.options import index_option, json_option, open_index
from dioptra_plugins.cli.output import emit_json, say

if TYPE_CHECKING:
    from dioptra_plugins.publishing.initialize import InitResult
    from dioptra_plugins.signing.outcome import SignResult

F = TypeVar("F", bound=Callable[..., Any])

KEYS_VARIABLE = "DIOPTRA_PLUGINS_KEYS"  # signing.KEYS_VARIABLE, without importing it here


def keys_option(func: F) -> F:
    """``--keys KEYDIR``: sign with the keys of this key directory."""
    return click.option(
        "--keys",
        "keys",
        envvar=KEYS_VARIABLE,
        metavar="KEYDIR",
        type=click.Path(path_type=Path, file_okay=False),
        help=f"Sign the index with the keys in KEYDIR [default: ${KEYS_VARIABLE}].",
    )(func)


def timestamp_expiry_option(help_text: str) -> Callable[[F], F]:
    """``--timestamp-expiry SECONDS`` (index init --signed, index refresh)."""
    return click.option(
        "--timestamp-expiry", type=click.IntRange(min=1), metavar="SECONDS", help=help_text
    )


def required_keys(keys: Path | None, command: str, holding: str = "") -> Path:
    """``keys``, or the usage error of ``command`` (``index renew``) run without --keys
    (``holding``: which of the keys it needs, when not all)."""
    if keys is None:
        from dioptra_plugins.errors import UsageError

        raise UsageError(f"{command} needs --keys KEYDIR{holding}")
    return keys


def describe_init(result: InitResult) -> str:
    assert result.signed is not None
    return f"{describe_signing(result.signed)}; workers trust {result.trusted_root} (sync --trust)"


def describe_signing(result: SignResult) -> str:
    if result.timestamp == "newer":
        return f"signed: serial {result.serial}; a newer serial is already signed"
    expiry = f", expires {result.expires}" if result.expires else ""
    done = " (completed: its publisher signed it before its swap)" if result.completed else ""
    return (
        f"signed: serial {result.serial}{done} (timestamp version {result.timestamp_version}"
        f"{expiry})"
    )


@click.group("keys")
def keys_group() -> None:
    """Keys of a signed index: generate them, rotate one."""


@keys_group.command("generate")
@click.argument("keydir", type=click.Path(path_type=Path, file_okay=False))
@json_option
def generate_command(keydir: Path, as_json: bool) -> None:
    """Create KEYDIR with new Ed25519 keys for the root, targets, snapshot and timestamp roles.

    Keep root.pem offline (it signs only new root versions) and targets.pem and snapshot.pem
    with the publisher (they sign every publish, yank and renew); timestamp.pem signs every
    write and every refresh (the cron job needs only it and root.json).
    """
    from dioptra_plugins.signing.keys import generate_keys

    keyids = generate_keys(keydir)
    if as_json:
        emit_json({"keydir": str(keydir), "keyids": keyids})
        return
    for role, keyid in keyids.items():
        say(f"{role}: {keydir / (role + '.pem')}  keyid {keyid}")


@keys_group.command("rotate")
@click.argument("role", type=click.Choice(["root", "targets", "snapshot", "timestamp"]))
@keys_option
@index_option("index_url")
@json_option
def rotate_command(
    role: str, keys: Path | None, index_url: str | None, timeout: float | None, as_json: bool
) -> None:
    """Replace ROLE's key with a new one in a new root version (needs the root key).

    Workers keep their trusted root.json: they verify the new root version with the old one.
    """
    from dioptra_plugins.signing.roots import rotate_key

    keydir = required_keys(keys, "keys rotate")
    result = rotate_key(keydir, role, open_index(index_url, timeout))
    if as_json:
        emit_json(
            {
                "role": result.role,
                "old_keyid": result.old_keyid,
                "new_keyid": result.new_keyid,
                "root_version": result.root_version,
                "retired": result.retired,
                "signed": result.signed.to_json() if result.signed else None,
            }
        )
        return
    say(
        f"rotated {role}: keyid {result.new_keyid} in root version {result.root_version} "
        f"({keydir / 'root.json'})"
    )
    if result.retired:
        say(f"the old key is in {result.retired}: destroy it once no one needs it")


@click.command("refresh")
@keys_option
@index_option("index_url")
@timestamp_expiry_option(
    "How long the new timestamp is valid (kept for later refreshes) [default: as before]."
)
@json_option
def refresh_command(
    keys: Path | None,
    index_url: str | None,
    timeout: float | None,
    timestamp_expiry: int | None,
    as_json: bool,
) -> None:
    """Re-sign the timestamp of a signed index (a cron job, more often than it expires).

    Needs only timestamp.pem and root.json in KEYDIR.  Completes a publish whose publisher
    died after its root swap (with the signature that publisher made); a root nobody with the
    targets key signed is reported (exit 1) and never signed.
    """
    from dioptra_plugins.publishing.operations import refresh

    keydir = required_keys(keys, "index refresh", " (timestamp.pem and root.json)")
    storage = open_index(index_url, timeout)
    result = refresh(index=storage, keys=keydir, timestamp_expiry=timestamp_expiry)
    if as_json:
        emit_json(result.to_json())
    else:
        say(f"{result.url}: {describe_signing(result)}")


@click.command("renew")
@keys_option
@index_option("index_url")
@click.option(
    "--restore",
    is_flag=True,
    help="Put the signed root back over an index.json nobody with the keys signed.",
)
@json_option
def renew_command(
    keys: Path | None, index_url: str | None, timeout: float | None, restore: bool, as_json: bool
) -> None:
    """Sign the index's content anew under the next serial (targets, snapshot, timestamp).

    Targets and snapshot expire a year after they were signed; every publish, yank and
    unyank signs new ones.  With --restore, the signed root replaces an index.json that a
    bucket writer changed, or that was damaged or lost.  Needs the publisher's keys.
    """
    from dioptra_plugins.publishing.operations import renew

    keydir = required_keys(keys, "index renew")
    result = renew(index=open_index(index_url, timeout), keys=keydir, restore=restore)
    if as_json:
        emit_json(result.to_json())
    else:
        say(f"{result.url}: {'restored' if restore else 'renewed'}; {describe_signing(result)}")


COMMANDS: list[click.Command] = [keys_group]
