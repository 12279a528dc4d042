"""Locks other tools read, and locks other tools wrote: PEP 751 both ways, with real uv and pip."""

from __future__ import annotations

import subprocess
import sys
import tomllib
from pathlib import Path

import pytest
from synchelpers import installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.plugindir.verify_dir import verify

BIN = Path(sys.executable).parent


@pytest.fixture
def index(wheels: dict[str, Path], tmp_path: Path) -> str:
    url = str(tmp_path / "index")
    publish_wheels(url, [wheels["alpha-1.0.0"], wheels["alpha-1.1.0"], wheels["beta-1.0.0"]])
    return url


def test_our_lock_is_a_pep_751_lock_uv_installs(index: str, tmp_path: Path) -> None:
    plugin_dir = tmp_path / "plugins"
    sync(["beta"], index=index, plugin_dir=plugin_dir)
    lock = plugin_dir / ".dioptra-plugins" / "current" / "pylock.toml"
    document = tomllib.loads(lock.read_text())
    for package in document["packages"]:
        assert package["index"].startswith("file://")
        assert package["wheels"][0]["url"].startswith("file://")
    try:
        from packaging.pylock import Pylock  # packaging >= 25 validates PEP 751 locks
    except ImportError:
        pass
    else:
        Pylock.from_dict(document)
    target = tmp_path / "uv-target"
    done = subprocess.run(
        [
            str(BIN / "uv"),
            "pip",
            "install",
            "--python",
            sys.executable,
            "--target",
            str(target),
            "--offline",
            "--no-cache",
            "-r",
            str(lock),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    for top in ("alpha", "beta"):
        assert (target / top / "__init__.py").is_file()
    version = (target / "alpha" / "__init__.py").read_text()
    assert '"1.1.0"' in version


def test_a_lock_written_by_pip_lock_syncs(index: str, tmp_path: Path) -> None:
    simple = Path(index) / "simple"
    lock = tmp_path / "pylock.toml"
    done = subprocess.run(
        [
            sys.executable,
            "-m",
            "pip",
            "lock",
            "--no-deps",
            "--index-url",
            simple.as_uri(),
            "alpha==1.0.0",
            "beta",
            "-o",
            str(lock),
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    if done.returncode != 0 and "file://" in done.stderr:
        pytest.fail(f"pip lock against our simple pages failed: {done.stderr[-2000:]}")
    assert done.returncode == 0, done.stderr
    plugin_dir = tmp_path / "plugins"
    result = sync(locked=lock, index=index, plugin_dir=plugin_dir)
    assert result.switched
    assert installed(plugin_dir) == {"alpha": "1.0.0", "beta": "1.0.0"}
    assert verify(plugin_dir).ok


def test_a_foreign_lock_without_sizes_or_our_tables(index: str, tmp_path: Path) -> None:
    ours = tmp_path / "ours"
    sync(["alpha==1.1.0"], index=index, plugin_dir=ours)
    written = tomllib.loads((ours / ".dioptra-plugins/current/pylock.toml").read_text())
    (package,) = written["packages"]
    wheel = package["wheels"][0]
    foreign = tmp_path / "pylock.toml"
    foreign.write_text(
        'lock-version = "1.0"\ncreated-by = "some-other-tool"\n\n'
        '[[packages]]\nname = "alpha"\nversion = "1.1.0"\n\n'
        f'[[packages.wheels]]\nname = "{wheel["name"]}"\nurl = "https://example.invalid/x.whl"\n'
        f'hashes = {{sha256 = "{wheel["hashes"]["sha256"]}"}}\n\n'
        '[[packages]]\nname = "numpy"\nversion = "2.0.0"\n'
    )
    plugin_dir = tmp_path / "plugins"
    sync(locked=foreign, index=index, plugin_dir=plugin_dir, ignore_env_deps=True)
    assert installed(plugin_dir) == {"alpha": "1.1.0"}
