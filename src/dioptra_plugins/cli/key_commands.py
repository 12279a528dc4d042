"""``keys generate``, ``keys rotate`` and ``index refresh``: the signed index's keys (issue 14).

Also the pieces the index commands share for signing (``--keys``, signing after a root swap,
refusing an unsigned write to a signed index).  TUF is imported only inside the commands, so
importing this module (the index commands do) costs nothing.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import click

from dioptra_plugins.cli.options import index_option, json_option
from dioptra_plugins.cli.output import emit_json, say

if TYPE_CHECKING:
    from dioptra_plugins.index.storage import Storage
    from dioptra_plugins.signing.metadata import IndexSigner
    from dioptra_plugins.signing.outcome import SignResult

F = TypeVar("F", bound=Callable[..., Any])

KEYS_VARIABLE = "DIOPTRA_PLUGINS_KEYS"


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


def index_signer(keys: Path) -> IndexSigner:
    from dioptra_plugins.signing.metadata import IndexSigner

    return IndexSigner(keys)


def prepare_write(storage: Storage, keys: Path | None) -> IndexSigner | None:
    """Before a root swap: the signer (after checking it can sign this index), or, without
    ``--keys``, a refusal when the index is signed (workers that verify would not see it)."""
    from dioptra_plugins.errors import ObjectNotFoundError
    from dioptra_plugins.signing import SigningError
    from dioptra_plugins.signing.names import TIMESTAMP_KEY

    if keys is not None:
        signer = index_signer(keys)
        signer.check_index(storage)
        return signer
    try:
        storage.get(TIMESTAMP_KEY)
    except ObjectNotFoundError:
        return None
    raise SigningError(
        f"{storage.url} is a signed index: pass --keys KEYDIR (or set ${KEYS_VARIABLE}) so "
        "that workers which verify it see the change; nothing was changed"
    )


class SignedWrite:
    """A change to the index, signed after its root swap when the index is signed.

    ``with SignedWrite(storage, keys) as signed: publish(...)``, then ``signed.result`` (None
    for an unsigned index).  Before the block: :func:`prepare_write`; after it, only if the
    block succeeded: :func:`sign_after_swap`.
    """

    def __init__(self, storage: Storage, keys: Path | None, *, enabled: bool = True) -> None:
        self.storage = storage
        self.signer = prepare_write(storage, keys) if enabled else None
        self.result: SignResult | None = None

    def __enter__(self) -> SignedWrite:
        return self

    def __exit__(self, kind: type[BaseException] | None, *exc_info: object) -> None:
        if kind is None:
            self.result = sign_after_swap(self.storage, self.signer)


def timestamp_expiry_option(help_text: str) -> Callable[[F], F]:
    """``--timestamp-expiry SECONDS`` (index init --signed, index refresh)."""
    return click.option(
        "--timestamp-expiry", type=click.IntRange(min=1), metavar="SECONDS", help=help_text
    )


def sign_after_swap(storage: Storage, signer: IndexSigner | None) -> SignResult | None:
    """After a root swap: sign the root as it is now (ours, or a newer one containing ours)."""
    if signer is None:
        return None
    from dioptra_plugins.errors import DioptraPluginsError
    from dioptra_plugins.signing import SigningError

    try:
        return signer.sign_current(storage)
    except DioptraPluginsError as error:
        raise SigningError(
            f"the index root was changed but signing it failed: {error}; workers that verify "
            f"still see the previous signed root until `dioptra-plugins index refresh --index "
            f"{storage.url} --keys {signer.keydir}` succeeds"
        ) from error


def signed_init(
    signed: bool, keys: Path | None, timestamp_expiry: int | None
) -> Callable[[Storage], dict[str, Any]] | None:
    """``index init --signed``: checks the options now; the returned step signs after init."""
    from dioptra_plugins.errors import UsageError

    if not signed:
        if keys is not None or timestamp_expiry is not None:
            raise UsageError("--keys and --timestamp-expiry go with --signed")
        return None
    if keys is None:
        raise UsageError("--signed needs --keys KEYDIR (create one with `keys generate KEYDIR`)")
    chosen = keys

    def sign(storage: Storage) -> dict[str, Any]:
        from dioptra_plugins.signing.roots import ensure_root

        _data, created = ensure_root(chosen)
        result = index_signer(chosen).initialize(storage, timestamp_expiry=timestamp_expiry)
        return {
            **result.to_json(),
            "trusted_root": str(chosen / "root.json"),
            "root_created": created,
        }

    return sign


def describe_init(signing: dict[str, Any]) -> str:
    return (
        f"signed: serial {signing['serial']} (timestamp expires {signing['expires']}); "
        f"workers trust {signing['trusted_root']} (sync --trust)"
    )


def describe_signing(result: SignResult) -> str:
    if result.timestamp == "newer":
        return f"signed: a newer root than serial {result.serial} is already signed"
    expiry = f", expires {result.expires}" if result.expires else ""
    return f"signed: serial {result.serial} (timestamp version {result.timestamp_version}{expiry})"


@click.group("keys")
def keys_group() -> None:
    """Keys of a signed index: generate them, rotate one."""


@keys_group.command("generate")
@click.argument("keydir", type=click.Path(path_type=Path, file_okay=False))
@json_option
def generate_command(keydir: Path, as_json: bool) -> None:
    """Create KEYDIR with new Ed25519 keys for the root, targets, snapshot and timestamp roles.

    Keep root.pem offline (it signs only new root versions) and targets.pem with the
    publisher; snapshot.pem and timestamp.pem sign on every publish and refresh.
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
def rotate_command(role: str, keys: Path | None, index_url: str | None, as_json: bool) -> None:
    """Replace ROLE's key with a new one in a new root version (needs the root key).

    Workers keep their trusted root.json: they verify the new root version with the old one.
    """
    from dioptra_plugins.errors import UsageError
    from dioptra_plugins.index.url import open_storage
    from dioptra_plugins.signing.roots import rotate_key

    if keys is None:
        raise UsageError("keys rotate needs --keys KEYDIR")
    if not index_url:
        raise UsageError("no index given: pass --index URL or set DIOPTRA_PLUGINS_INDEX")
    result = rotate_key(keys, role, open_storage(index_url))
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
        f"({keys / 'root.json'})"
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
    keys: Path | None, index_url: str | None, timestamp_expiry: int | None, as_json: bool
) -> None:
    """Re-sign the timestamp of a signed index (a cron job, more often than it expires).

    Also signs the current root if a publish left it unsigned, and re-signs targets and
    snapshot when they expire within 30 days (those need their keys).
    """
    from dioptra_plugins.errors import UsageError
    from dioptra_plugins.index.url import open_storage

    if keys is None:
        raise UsageError("index refresh needs --keys KEYDIR")
    if not index_url:
        raise UsageError("no index given: pass --index URL or set DIOPTRA_PLUGINS_INDEX")
    storage = open_storage(index_url)
    signer = index_signer(keys)
    signer.check_index(storage)
    result = signer.sign_current(
        storage, timestamp_expiry=timestamp_expiry, force_timestamp=True, renew=True
    )
    if as_json:
        emit_json(result.to_json())
    else:
        say(f"{storage.url}: {describe_signing(result)}")


COMMANDS: list[click.Command] = [keys_group]
