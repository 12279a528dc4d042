"""Helpers of the signed-index tests: bundles, a key directory, attackers' writes, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import dioptra_plugins
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.signing.keys import generate_keys
from dioptra_plugins.signing.metadata import IndexSigner
from dioptra_plugins.signing.outcome import SignResult
from dioptra_plugins.signing.roots import ensure_root
from snapshots import installed as installed  # re-exported for the tests that import it here
from snapshots import tree_snapshot
from tampering import overwrite

CLI = str(Path(sys.executable).parent / "dioptra-plugins")


def build(workdir: Path, top: str, version: str, says: str | None = None) -> Path:
    """A one-module plugin package ``top`` whose task returns ``says`` (default: its version)."""
    package = workdir / f"src-{top}-{version}-{says or 'ok'}" / top
    package.mkdir(parents=True)
    (package / "__init__.py").write_text(f'VERSION = "{version}"\nSAYS = "{says or version}"\n')
    (package / "tasks.py").write_text(
        "from dioptra_plugins.pyplugs import register\n\n\n"
        "@register\n"
        "def run() -> str:\n"
        f'    return "{says or version}"\n'
    )
    out = workdir / f"wheels-{top}-{version}-{says or 'ok'}"
    return build_bundle(package, out, version=version)


def make_keys(keydir: Path) -> Path:
    generate_keys(keydir)
    ensure_root(keydir)
    return keydir


def refresh(index_url: str, keys: Path, timestamp_expiry: int | None = None) -> SignResult:
    """What the cron job's ``index refresh`` does."""
    return dioptra_plugins.refresh(index=index_url, keys=keys, timestamp_expiry=timestamp_expiry)


def publish_signed(index_url: str, keys: Path, wheels: list[Path]) -> SignResult:
    """What ``publish --keys`` does; what it signed."""
    result = dioptra_plugins.publish(wheels, index=index_url, keys=keys)
    assert result.signed is not None
    return result.signed


def publish_as_bucket_writer(index_url: str, wheels: list[Path], workdir: Path) -> None:
    """What someone with write access to the bucket and no key does (issue 21, item 1).

    Every object but ``tuf/`` is copied into an unsigned local index, ``wheels`` are published
    there, and every object that changed or is new (``index.json``, ``projects/``,
    ``bundles/``, pages, history) is uploaded over the signed index; ``tuf/`` is untouched.
    """
    source = open_storage(index_url)
    copy = workdir / f"bucket-writer-{len(list(workdir.glob('bucket-writer-*')))}"
    original: dict[str, bytes] = {}
    for info in source.list(""):
        if info.key.startswith(("tuf/", ".")):  # ".": a backend's own files (SeaweedFS)
            continue
        original[info.key] = source.get(info.key).data
        path = copy / info.key
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(original[info.key])
    publish(open_storage(str(copy)), wheels)
    for path in sorted(copy.rglob("*")):
        key = path.relative_to(copy).as_posix()
        if path.is_file() and not path.name.startswith(".") and not key.startswith("tuf/"):
            data = path.read_bytes()
            if original.get(key) != data:
                overwrite(index_url, key, data)


def sign_with(index_url: str, keys: Path) -> None:
    """Sign the index root as it is with ``keys`` (an attacker's, or retired ones), bypassing
    every check: what someone holding those keys could write with their own tool."""
    storage = open_storage(index_url)
    signer = IndexSigner(keys)
    meta = signer.sign_as_is(storage, storage.get("index.json").data)
    signer.point_timestamp(storage, meta, None, force=True)


def says(plugin_dir: Path, top: str) -> str:
    """What the synced package's task returns (read from its file, not imported)."""
    text = (plugin_dir / top / "__init__.py").read_text()
    return text.split('SAYS = "')[1].split('"')[0]


def run_cli(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([CLI, *args], capture_output=True, text=True, timeout=120, check=False)


def whole_dir(plugin_dir: Path) -> dict[str, str]:
    """Every file, link and directory of the plugin dir, caches included (the lock excepted:
    its holder writes its pid there)."""
    return tree_snapshot(plugin_dir, skip=(".dioptra-plugins/lock",))
