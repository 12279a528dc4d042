"""Helpers of the signed-index tests: bundles, a key directory, attackers' writes, the CLI."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.index.publish import publish
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.signing.keys import generate_keys
from dioptra_plugins.signing.metadata import IndexSigner
from dioptra_plugins.signing.outcome import SignResult
from dioptra_plugins.signing.roots import ensure_root
from snapshots import installed as installed  # re-exported for the tests that import it here
from snapshots import tree_snapshot

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


def sign(index_url: str, keys: Path, **options: object) -> SignResult:
    return IndexSigner(keys).sign_current(open_storage(index_url), **options)  # type: ignore[arg-type]


def publish_signed(index_url: str, keys: Path, wheels: list[Path]) -> SignResult:
    """What ``publish --keys`` does: publish, then sign the root as it is now."""
    storage = open_storage(index_url)
    signer = IndexSigner(keys)
    signer.check_index(storage)
    publish(storage, wheels)
    return signer.sign_current(storage)


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
