"""Helpers of the catalogue tests: the catalogues under test, a static HTTP server, Chromium."""

from __future__ import annotations

import functools
import http.server
import shutil
import tempfile
import textwrap
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.catalogue import write_site
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.publishing.yank import set_yanked

REPO = Path(__file__).resolve().parents[2]
PLUGIN_PACKAGES = REPO / "plugin-packages"
DIOPTRA = REPO / "tests" / "fixtures" / "dioptra"
CHROMIUM = Path("/usr/bin/chromium")
CHROMEDRIVER = Path("/usr/bin/chromedriver")
CHROMIUM_FLAGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",  # a container's small /dev/shm would crash the renderer
    "--window-size=1280,900",
)
HOSTILE_DOC = '<script>alert(1)</script><img src=x onerror="alert(2)"> zanzibar'
"""The first docstring line of the hostile task: markup that must stay text, and a word to
search it by."""
HOSTILE_SOURCE = textwrap.dedent(
    '''
    from dioptra_plugins import pyplugs


    @pyplugs.register(label="<b onmouseover=alert(3)>label</b>")
    def steal(
        target: "<script>alert(4)</script>" = "</script><script>alert(5)</script>",
    ) -> "<img src=x onerror=alert(6)>":
        """<script>alert(1)</script><img src=x onerror="alert(2)"> zanzibar"""
    '''
)
COMMIT = "0123456789abcdef0123456789abcdef01234567"


def add_provenance(manifest: dict[str, Any]) -> dict[str, Any]:
    """What a build from git records (issue 23's shape): a web repository and a commit."""
    return manifest | {
        "provenance": {
            "vcs": "git",
            "url": "git+https://github.com/example/plugins.git",
            "commit": COMMIT,
            "requested_ref": "v2.0.0",
            "subdirectory": "hostile_pkg",
            "tree": "89abcdef0123456789abcdef0123456789abcdef",
            "dirty": False,
        }
    }


def build_shipped_index(index: Path, work: Path) -> None:
    """The shipped plugin packages, a hostile package in two versions (one yanked, the newer
    one with provenance), published, with the catalogue written by publish and yank."""
    dist = work / "dist"
    wheels = [
        build_bundle(PLUGIN_PACKAGES / "dioptra_builtins", dist),
        build_bundle(PLUGIN_PACKAGES / "dioptra_examples", dist),
    ]
    hostile = work / "src" / "hostile_pkg"
    hostile.mkdir(parents=True)
    (hostile / "__init__.py").write_text(HOSTILE_SOURCE)
    wheels.append(build_bundle(hostile, dist, version="1.0.0"))
    wheels.append(build_bundle(hostile, dist, version="2.0.0", finish_manifest=add_provenance))
    storage = open_storage(str(index))
    publish(storage, wheels)
    set_yanked(storage, "hostile-pkg", "1.0.0", yanked=True, reason="<script>alert(7)</script>")


def build_dioptra_index(index: Path, work: Path) -> None:
    """Dioptra 0.x's real task plugins: the builtins and two examples' dioptra_custom portions
    (as tests/sync/test_dioptra_plugin_trees.py builds them), catalogue written by
    ``index site``."""
    custom = DIOPTRA / "examples" / "task-plugins" / "dioptra_custom"
    sources = [
        (DIOPTRA / "task-plugins" / "dioptra_builtins", None),
        (custom / "custom_fgm_plugins", "dioptra_custom"),
        (custom / "feature_squeezing", "dioptra_custom"),
    ]
    tree = work / "tree"
    shutil.copytree(DIOPTRA, tree)  # the build must not leave anything in the fixtures
    wheels = [
        build_bundle(tree / src.relative_to(DIOPTRA), work / "dist", version="0.1.0", namespace=n)
        for src, n in sources
    ]
    storage = open_storage(str(index))
    publish(storage, wheels)
    write_site(storage)


@contextmanager
def static_server(directory: Path) -> Iterator[str]:
    """A static HTTP server of ``directory`` on 127.0.0.1; yields its base URL."""

    class Handler(http.server.SimpleHTTPRequestHandler):
        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def chromium_available() -> bool:
    return CHROMIUM.exists() and CHROMEDRIVER.exists()


@contextmanager
def chromium(*, javascript: bool = True) -> Iterator[Any]:
    """Headless Debian Chromium through its chromedriver, with a fresh profile."""
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service

    with tempfile.TemporaryDirectory(prefix="chromium-profile-") as profile:
        options = webdriver.ChromeOptions()
        options.binary_location = str(CHROMIUM)
        for flag in CHROMIUM_FLAGS:
            options.add_argument(flag)
        options.add_argument(f"--user-data-dir={profile}")
        if not javascript:
            options.add_argument("--blink-settings=scriptEnabled=false")
        options.set_capability("goog:loggingPrefs", {"browser": "ALL"})
        driver = webdriver.Chrome(service=Service(str(CHROMEDRIVER)), options=options)
        try:
            yield driver
        finally:
            driver.quit()
