"""The signed index against its attackers (issue 14), on a local directory and on SeaweedFS.

Every attacker here can write anything into the bucket (``overwrite``) but holds no key of the
trusted root (or only a retired one).  Every refusal is checked three ways: the library raises,
the plugin dir is byte-identical afterwards (caches included), and the CLI prints exactly one
``error:`` line and exits 1.
"""

from __future__ import annotations

import hashlib
import re
import shutil
import time
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path

import pytest
from signhelpers import (
    build,
    installed,
    make_keys,
    publish_as_bucket_writer,
    publish_signed,
    refresh,
    run_cli,
    says,
    sign_with,
    whole_dir,
)
from tuf.api.metadata import Metadata

from dioptra_plugins import sync
from dioptra_plugins.errors import DioptraPluginsError
from dioptra_plugins.index.documents import ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.plugindir.verify_dir import verify
from dioptra_plugins.publishing.initialize import init_index
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.signing import TRUST_VARIABLE, TrustError
from dioptra_plugins.signing.keys import load_signer
from dioptra_plugins.signing.names import (
    TIMESTAMP_KEY,
    metadata_key,
    metadata_version,
)
from dioptra_plugins.signing.roots import rotate_key
from tampering import overwrite, read_object

BUNDLE_110 = "bundles/alpha/alpha-1.1.0-py3-none-any.whl"


@pytest.fixture
def trust(keys: Path, tmp_path: Path) -> Path:
    """The worker's copy of the trusted root (version 1; it never changes on the worker)."""
    worker_root = tmp_path / "worker-root.json"
    shutil.copyfile(keys / "root.json", worker_root)
    return worker_root


@pytest.fixture
def synced(
    signed_index: str, keys: Path, trust: Path, wheels: dict[str, Path], tmp_path: Path
) -> Path:
    """alpha 1.0.0 published (signed) and synced with trust into ``plugins``."""
    publish_signed(signed_index, keys, [wheels["alpha-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    result = sync(["alpha"], index=signed_index, plugin_dir=plugin_dir, trust=trust)
    assert result.installed == {"alpha": "1.0.0"}
    return plugin_dir


def refused(
    index_url: str,
    plugin_dir: Path,
    trust: Path,
    match: str,
    requirements: tuple[str, ...] = ("alpha",),
) -> None:
    """The sync is refused by the library and by the CLI; the plugin dir is unchanged."""
    before = whole_dir(plugin_dir)
    with pytest.raises(DioptraPluginsError, match=match):
        sync(list(requirements), index=index_url, plugin_dir=plugin_dir, trust=trust)
    assert whole_dir(plugin_dir) == before
    cli = run_cli(
        "sync", *requirements, "--index", index_url, "--plugin-dir", str(plugin_dir),
        "--trust", str(trust),
    )  # fmt: skip
    lines = cli.stderr.splitlines()
    assert cli.returncode == 1, cli.stderr
    assert len(lines) == 1, cli.stderr
    assert lines[0].startswith("error: ")
    assert re.search(match, lines[0]), lines[0]
    assert "Traceback" not in cli.stderr
    assert whole_dir(plugin_dir) == before


def test_signed_sync_installs_and_a_noop_costs_at_most_two_requests(
    synced: Path, signed_index: str, keys: Path, trust: Path, wheels: dict[str, Path]
) -> None:
    again = sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust)
    assert again.not_modified
    assert again.requests <= 2  # the probe for root version 2 and the timestamp
    refresh(signed_index, keys)  # index refresh: a new timestamp
    refreshed = sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust)
    assert refreshed.not_modified
    assert refreshed.requests <= 2
    publish_signed(signed_index, keys, [wheels["alpha-1.1.0"]])
    upgraded = sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust)
    assert upgraded.upgraded == {"alpha": ("1.0.0", "1.1.0")}
    # probe, timestamp, snapshot, targets, one project document, one bundle
    assert upgraded.requests <= 6
    assert verify(synced).ok


def test_an_unsigned_index_is_refused_when_trust_is_configured(
    index_url: str,
    trust: Path,
    wheels: dict[str, Path],
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    storage = open_storage(index_url)
    init_index(storage)
    publish(storage, [wheels["alpha-1.0.0"]])
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index_url, plugin_dir=plugin_dir)  # no trust: the unsigned index
    refused(index_url, plugin_dir, trust, "it is not signed")
    monkeypatch.setenv(TRUST_VARIABLE, str(trust))
    before = whole_dir(plugin_dir)
    with pytest.raises(TrustError, match="it is not signed"):
        sync(["alpha"], index=index_url, plugin_dir=plugin_dir)
    assert whole_dir(plugin_dir) == before


def _forge_alpha_110(index_url: str, evil: Path, *, over_the_signed_document: bool) -> None:
    """Replace alpha 1.1.0's bundle and rewrite the unsigned documents to match it."""
    data = evil.read_bytes()
    overwrite(index_url, BUNDLE_110, data)
    root = RootDocument.from_bytes(read_object(index_url, "index.json"), what="index.json")
    entry = root.projects["alpha"]
    document = ProjectDocument.from_bytes(
        read_object(index_url, entry.document), entry.sha256, what=entry.document
    )
    forged = document.with_files(
        [
            replace(f, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            if f.filename == evil.name
            else f
            for f in document.files
        ]
    )
    overwrite(index_url, forged.key, forged.to_bytes())
    if over_the_signed_document:
        overwrite(index_url, entry.document, forged.to_bytes())
    forged_root = root.with_projects({"alpha": ProjectEntry.for_document(forged)})
    overwrite(index_url, "index.json", forged_root.to_bytes())


@pytest.mark.parametrize("over_the_signed_document", [False, True])
def test_a_replaced_bundle_with_consistent_unsigned_documents_is_refused(
    over_the_signed_document: bool,
    synced: Path,
    signed_index: str,
    keys: Path,
    trust: Path,
    wheels: dict[str, Path],
    tmp_path: Path,
) -> None:
    publish_signed(signed_index, keys, [wheels["alpha-1.1.0"]])
    _forge_alpha_110(
        signed_index, wheels["evil-alpha-1.1.0"], over_the_signed_document=over_the_signed_document
    )
    # The forgery is consistent: a worker that does not verify installs it.
    unsigned = tmp_path / "unsigned-worker"
    sync(["alpha"], index=signed_index, plugin_dir=unsigned)
    assert says(unsigned, "alpha") == "pwned"
    # The signed document pins the real bundle: its bytes (size, sha256) differ from the fake.
    match = (
        "not the document the signed metadata pins"
        if over_the_signed_document
        else r"alpha-1\.1\.0-py3-none-any\.whl does not match the signed metadata.*possible "
        "tampering"
    )
    refused(signed_index, synced, trust, match)
    assert installed(synced) == {"alpha": "1.0.0"}
    fresh = tmp_path / "fresh-worker"
    with pytest.raises(DioptraPluginsError, match=match):
        sync(["alpha"], index=signed_index, plugin_dir=fresh, trust=trust)
    assert installed(fresh) == {}


def test_replaying_an_older_signed_index_is_refused(
    synced: Path, signed_index: str, keys: Path, trust: Path, wheels: dict[str, Path]
) -> None:
    old = {key: read_object(signed_index, key) for key in ("index.json", TIMESTAMP_KEY)}
    publish_signed(signed_index, keys, [wheels["alpha-1.1.0"]])
    sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust)
    assert installed(synced) == {"alpha": "1.1.0"}
    for key, data in old.items():
        overwrite(signed_index, key, data)
    refused(signed_index, synced, trust, "rolled back")
    # Without the trusted metadata kept in the plugin dir, the serial in state.json refuses it.
    shutil.rmtree(synced / ".dioptra-plugins" / "cache" / "tuf")
    refused(signed_index, synced, trust, r"serial \d+ is lower than serial \d+")
    assert installed(synced) == {"alpha": "1.1.0"}


def test_an_expired_timestamp_is_refused_saying_when(
    index_url: str, keys: Path, trust: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    storage = open_storage(index_url)
    init_index(storage, signed=True, keys=keys, timestamp_expiry=3)
    publish_signed(index_url, keys, [wheels["alpha-1.0.0"]])  # keeps the 3 s expiry
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=index_url, plugin_dir=plugin_dir, trust=trust)
    expires = Metadata.from_bytes(read_object(index_url, TIMESTAMP_KEY)).signed.expires
    time.sleep(max(0.0, (expires - datetime.now(UTC)).total_seconds()) + 1.1)
    when = expires.strftime("%Y-%m-%dT%H:%M:%SZ")
    refused(
        index_url, plugin_dir, trust, rf"its timestamp metadata \(version \d+\) expired at {when}"
    )
    refresh(index_url, keys, timestamp_expiry=3600)  # index refresh
    assert sync(["alpha"], index=index_url, plugin_dir=plugin_dir, trust=trust).not_modified


@pytest.mark.parametrize("mixed", ["snapshot", "targets", "project document"])
def test_metadata_or_documents_of_different_snapshots_are_refused(
    mixed: str,
    synced: Path,
    signed_index: str,
    keys: Path,
    trust: Path,
    wheels: dict[str, Path],
) -> None:
    old_root = RootDocument.from_bytes(read_object(signed_index, "index.json"), what="")
    old_serial, old_document = old_root.serial, old_root.projects["alpha"].document
    new = publish_signed(signed_index, keys, [wheels["alpha-1.1.0"]])
    old_version, new_version = metadata_version(old_serial), metadata_version(new.serial)
    if mixed == "snapshot":
        stale = read_object(signed_index, metadata_key("snapshot", old_version))
        overwrite(signed_index, metadata_key("snapshot", new_version), stale)
        match = "different snapshots"
    elif mixed == "targets":
        stale = read_object(signed_index, metadata_key("targets", old_version))
        overwrite(signed_index, metadata_key("targets", new_version), stale)
        match = "different snapshots"
    else:
        root = RootDocument.from_bytes(read_object(signed_index, "index.json"), what="")
        overwrite(
            signed_index, root.projects["alpha"].document, read_object(signed_index, old_document)
        )
        match = "a document from another snapshot"
    refused(signed_index, synced, trust, match)
    assert installed(synced) == {"alpha": "1.0.0"}


@pytest.mark.parametrize("forged", ["timestamp", "root"])
def test_metadata_signed_by_keys_not_in_the_trusted_root_is_refused(
    forged: str,
    synced: Path,
    signed_index: str,
    trust: Path,
    wheels: dict[str, Path],
    tmp_path: Path,
) -> None:
    attacker = make_keys(tmp_path / "attacker-keys")
    if forged == "timestamp":
        # A new version, published and signed with the attacker's own keys.
        publish_as_bucket_writer(signed_index, [wheels["alpha-1.2.0"]], tmp_path)
        sign_with(signed_index, attacker)
    else:
        # A root version 2 naming the attacker's keys, signed by the attacker's root key.
        root = Metadata.from_bytes((attacker / "root.json").read_bytes())
        root.signed.version = 2
        signer = load_signer(attacker, "root")
        assert signer is not None
        root.sign(signer)
        overwrite(signed_index, metadata_key("root", 2), root.to_bytes())
    refused(signed_index, synced, trust, "not signed by the keys of the trusted root")
    assert installed(synced) == {"alpha": "1.0.0"}


@pytest.mark.parametrize("role", ["timestamp", "snapshot", "targets", "root"])
def test_key_rotation_reaches_workers_that_hold_the_old_root(
    role: str,
    synced: Path,
    signed_index: str,
    keys: Path,
    trust: Path,
    wheels: dict[str, Path],
    tmp_path: Path,
) -> None:
    retired_keys = tmp_path / "keys-before-rotation"
    shutil.copytree(keys, retired_keys)
    storage = open_storage(signed_index)
    result = rotate_key(keys, role, storage)
    assert result.root_version == 2
    assert (
        Metadata.from_bytes(read_object(signed_index, metadata_key("root", 2))).signed.version == 2
    )
    # Right after the rotation, workers accept the index (rotating targets or snapshot signed
    # an unchanged root under the next serial: nothing to install).
    after = sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust)
    assert not after.switched
    assert installed(synced) == {"alpha": "1.0.0"}
    publish_signed(signed_index, keys, [wheels["alpha-1.1.0"]])
    upgraded = sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust)
    assert upgraded.upgraded == {"alpha": ("1.0.0", "1.1.0")}
    fresh = tmp_path / "fresh-worker"
    assert sync(["alpha"], index=signed_index, plugin_dir=fresh, trust=trust).installed == {
        "alpha": "1.1.0"
    }
    # The retired key signs nothing a worker accepts any more.
    if role == "root":
        root = Metadata.from_bytes(read_object(signed_index, metadata_key("root", 2)))
        root.signed.version = 3
        old_root_signer = load_signer(retired_keys, "root")
        assert old_root_signer is not None
        root.sign(old_root_signer)
        overwrite(signed_index, metadata_key("root", 3), root.to_bytes())
    else:
        publish_as_bucket_writer(signed_index, [wheels["alpha-1.2.0"]], tmp_path)
        sign_with(signed_index, retired_keys)
    refused(signed_index, synced, trust, "not signed by the keys of the trusted root")
    assert installed(synced) == {"alpha": "1.1.0"}


def test_a_verifying_sync_of_many_projects_reads_signed_documents_not_the_pack(
    signed_index: str, keys: Path, trust: Path, tmp_path: Path
) -> None:
    """A document pack is not a signed target: a verifying reader reads each document as the
    signed metadata pins it, and a forged pack changes nothing (not even a request's answer)."""
    from dioptra_plugins.index.keys import PACK_PREFIX
    from dioptra_plugins.index.packs import PACK_FROM

    names = [f"many{number:02d}" for number in range(PACK_FROM + 1)]
    publish_signed(signed_index, keys, [build(tmp_path / "src", name, "1.0.0") for name in names])
    storage = open_storage(signed_index)
    packs = [info.key for info in storage.list(PACK_PREFIX)]
    assert len(packs) == 1
    overwrite(signed_index, packs[0], b"forged\n")
    result = sync(names, index=signed_index, plugin_dir=tmp_path / "plugins", trust=trust)
    assert result.installed == dict.fromkeys(names, "1.0.0")
    assert verify(tmp_path / "plugins").ok
