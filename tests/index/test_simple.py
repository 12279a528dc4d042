"""The PEP 503 view: page content on every backend, and pip installing from it over HTTP."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from index_helpers import WheelMaker

from dioptra_plugins.index.documents import RootDocument
from dioptra_plugins.index.simple import render_root_page, write_page
from dioptra_plugins.index.storage import Storage, StoredObject
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.publishing.yank import set_yanked
from s3servers import free_ports


def page(storage: Storage, key: str) -> str:
    stored = storage.get(key)
    assert isinstance(stored, StoredObject)
    return stored.data.decode()


def test_pages_link_hashes_requires_python_and_yanked(
    storage: Storage, make_wheel: WheelMaker
) -> None:
    first = make_wheel("demo_pkg", "1.0.0", requires_python=">=3.11,<4")
    publish(storage, [first, make_wheel("demo_pkg", "1.1.0"), make_wheel("other", "0.1")])
    set_yanked(storage, "demo-pkg", "1.1.0", yanked=True, reason='bad "fgm" <default>')
    index_page = page(storage, "simple/index.html")
    assert '<a href="demo-pkg/">demo-pkg</a>' in index_page
    assert '<a href="other/">other</a>' in index_page
    project_page = page(storage, "simple/demo-pkg/index.html")
    sha = hashlib.sha256(first.read_bytes()).hexdigest()
    metadata = hashlib.sha256(
        storage.get("bundles/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl.metadata").data
    ).hexdigest()
    assert (
        f'<a href="../../bundles/demo-pkg/demo_pkg-1.0.0-py3-none-any.whl#sha256={sha}" '
        f'data-dist-info-metadata="sha256={metadata}" data-core-metadata="sha256={metadata}" '
        'data-requires-python="&lt;4,&gt;=3.11">demo_pkg-1.0.0-py3-none-any.whl</a>'
    ) in project_page
    assert 'data-yanked="bad &quot;fgm&quot; &lt;default&gt;"' in project_page
    assert '<meta name="dioptra-plugins:serial" content="2">' in project_page


def test_a_page_never_goes_back_to_an_older_serial(storage: Storage) -> None:
    newer = render_root_page(RootDocument(serial=5, projects={}))
    older = render_root_page(RootDocument(serial=4, projects={}))
    assert write_page(storage, "simple/index.html", newer, 5)
    assert not write_page(storage, "simple/index.html", older, 4)
    assert page(storage, "simple/index.html") == newer.decode()


@pytest.fixture
def http_server(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """``python -m http.server`` on 127.0.0.1 serving a local index directory."""
    root = tmp_path / "served-index"
    root.mkdir()
    (port,) = free_ports(1)
    process = subprocess.Popen(
        [sys.executable, "-m", "http.server", str(port), "--bind", "127.0.0.1"],
        cwd=root,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                urllib.request.urlopen(url, timeout=1).close()
                break
            except OSError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.1)
        yield root, url
    finally:
        process.terminate()
        process.wait(timeout=10)


def test_pip_installs_a_bundle_from_the_simple_view(
    http_server: tuple[Path, str], make_wheel: WheelMaker, tmp_path: Path
) -> None:
    root, url = http_server
    storage = open_storage(str(root))
    publish(storage, [make_wheel("demo_pkg", v, requires=["numpy>=1"]) for v in ("1.0", "1.1")])
    set_yanked(storage, "demo-pkg", "1.1", yanked=True, reason="broken")
    target = tmp_path / "target"
    env = {**os.environ, "PIP_CONFIG_FILE": os.devnull, "PIP_NO_CACHE_DIR": "1"}
    env.update(NO_PROXY="127.0.0.1", no_proxy="127.0.0.1")
    completed = subprocess.run(
        [
            sys.executable, "-m", "pip", "install", "--disable-pip-version-check",
            "--no-input", "--no-deps", "--index-url", f"{url}/simple/",
            "--target", str(target), "demo-pkg",
        ],
        capture_output=True, text=True, env=env, timeout=120, check=False,
    )  # fmt: skip
    assert completed.returncode == 0, completed.stdout + completed.stderr
    # The yanked 1.1 is skipped; the hash in the link was checked by pip.
    assert (target / "demo_pkg" / "__init__.py").read_text() == 'VERSION = "1.0"\n'
    assert (target / "demo_pkg-1.0.dist-info").is_dir()
