"""An index serves its bundles' runtime, so pip and uv install bundles from it (issue 25).

The runtime is published as a bundle (a reproducible wheel of the running dioptra-plugins);
on a worker it stays part of the environment: ``sync`` never installs it.
"""

from __future__ import annotations

import functools
import http.server
import json
import os
import subprocess
import sys
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

import dioptra_plugins
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.bundle.runtime import build_runtime
from dioptra_plugins.bundle.verify import verify_wheel
from dioptra_plugins.errors import ResolutionError
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.syncing.engine import sync

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent


@pytest.fixture(scope="module")
def index_with_runtime(tmp_path_factory: pytest.TempPathFactory) -> Path:
    work = tmp_path_factory.mktemp("runtime-index")
    runtime = build_runtime(work / "dist")
    builtins = build_bundle(REPO / "plugin-packages" / "dioptra_builtins", work / "dist")
    index = work / "index"
    publish(open_storage(str(index)), [runtime, builtins])
    return index


@pytest.fixture(scope="module")
def served(index_with_runtime: Path) -> Iterator[str]:
    class Quiet(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: object) -> None:
            pass

    handler = functools.partial(Quiet, directory=str(index_with_runtime))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_the_runtime_wheel_is_reproducible_and_a_valid_bundle(tmp_path: Path) -> None:
    first = build_runtime(tmp_path / "a")
    second = build_runtime(tmp_path / "b")
    assert first.name == f"dioptra_plugins-{dioptra_plugins.__version__}-py3-none-any.whl"
    assert first.read_bytes() == second.read_bytes()
    bundle = verify_wheel(first)
    assert bundle.name == "dioptra-plugins"
    with zipfile.ZipFile(first) as archive:
        names = archive.namelist()
        metadata = archive.read(f"{bundle.dist_info}/METADATA").decode()
    assert "dioptra_plugins/pyplugs.py" in names
    assert not any("__pycache__" in name or name.endswith(".pyc") for name in names)
    assert "Requires-Dist: click" in metadata
    assert "prefect" not in metadata  # extras come from the user's usual index


def _environment() -> dict[str, str]:
    # Only our index: no configured extra index or find-links may supply what it lacks.
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("PIP_", "UV_"))}
    return environment | {"PIP_CONFIG_FILE": os.devnull, "NO_PROXY": "127.0.0.1"}


@pytest.mark.parametrize("tool", ["pip", "uv"])
def test_pip_and_uv_install_a_bundle_and_its_runtime_from_the_index(
    served: str, tmp_path: Path, tool: str
) -> None:
    target = tmp_path / "target"
    if tool == "pip":
        command = [sys.executable, "-m", "pip", "install", "--no-cache-dir", "--no-input"]
    else:
        command = [str(BIN / "uv"), "pip", "install", "--no-cache", "--python", sys.executable]
    command += ["--no-deps", "--index-url", f"{served}/simple/", "--target", str(target)]
    done = subprocess.run(
        [*command, "dioptra-builtins", "dioptra-plugins"],
        capture_output=True,
        text=True,
        env=_environment(),
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    assert (target / "dioptra_builtins" / "random").is_dir()
    assert (target / "dioptra_plugins" / "pyplugs.py").is_file()
    version = dioptra_plugins.__version__
    assert (target / f"dioptra_plugins-{version}.dist-info").is_dir()


def test_sync_keeps_the_runtime_in_the_environment(
    index_with_runtime: Path, tmp_path: Path
) -> None:
    plugin_dir = tmp_path / "plugins"
    result = sync(["dioptra-builtins"], index=str(index_with_runtime), plugin_dir=plugin_dir)
    assert set(result.installed) == {"dioptra-builtins"}  # its runtime requirement: the env's
    with pytest.raises(ResolutionError, match="dioptra-plugins is the runtime"):
        sync(["dioptra-plugins"], index=str(index_with_runtime), plugin_dir=plugin_dir)


def test_the_command_line_refuses_to_sync_the_runtime(
    index_with_runtime: Path, tmp_path: Path
) -> None:
    place = ["--index", str(index_with_runtime), "--plugin-dir", str(tmp_path / "plugins")]
    done = subprocess.run(
        [str(BIN / "dioptra-plugins"), "sync", "dioptra-plugins", *place],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 1
    assert "dioptra-plugins is the runtime" in done.stderr
    assert "Traceback" not in done.stderr


def test_publish_runtime_from_the_command_line_twice(tmp_path: Path) -> None:
    cli = str(BIN / "dioptra-plugins")
    index = str(tmp_path / "index")
    first = subprocess.run(
        [cli, "publish", "--runtime", "--index", index, "--json"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert first.returncode == 0, first.stderr
    (published,) = json.loads(first.stdout)["files"]
    assert published["name"] == "dioptra-plugins"
    assert published["status"] == "published"
    again = subprocess.run(
        [cli, "publish", "--runtime", "--index", index],
        capture_output=True,
        text=True,
        check=False,
    )
    assert again.returncode == 0, again.stderr
    assert "already published: dioptra_plugins-" in again.stdout  # the same bytes again
    nothing = subprocess.run([cli, "publish", "--index", index], capture_output=True, text=True)
    assert nothing.returncode == 2
    assert "nothing to publish" in nothing.stderr
