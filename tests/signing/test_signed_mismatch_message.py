"""A bundle that does not match the signed metadata says so, and a network fault still does not.

Issue 21, item 8: on a signed index, a bundle replaced by a bucket writer (the unsigned
documents rewritten to match it) was refused with ``truncated download, 2238 of 2240 bytes``,
which sends an operator to retry a network glitch instead of investigating an attack.  The
refusal is now a :class:`SignedMismatchError` naming the signed size and sha256 and what was
served.  A truly truncated object on an unsigned index still says ``truncated download``, and
a stream cut by the network on a signed index is still retried as one.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import re
import shutil
import threading
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest
from signhelpers import installed, run_cli, whole_dir

from dioptra_plugins import sync
from dioptra_plugins.errors import DioptraPluginsError, IntegrityError
from dioptra_plugins.index.documents import ProjectDocument, ProjectEntry, RootDocument
from dioptra_plugins.index.url import open_storage
from dioptra_plugins.publishing.initialize import init_index
from dioptra_plugins.publishing.publish import publish
from dioptra_plugins.signing import SignedMismatchError
from dioptra_plugins.syncing import download
from faultproxy import CUT, FORWARD, FaultProxy
from s3servers import S3Server
from tampering import overwrite, read_object

BUNDLE_110 = "bundles/alpha/alpha-1.1.0-py3-none-any.whl"


@pytest.fixture
def trust(keys: Path, tmp_path: Path) -> Path:
    worker_root = tmp_path / "worker-root.json"
    shutil.copyfile(keys / "root.json", worker_root)
    return worker_root


def cli_ok(*args: str | Path) -> None:
    done = run_cli(*(str(arg) for arg in args))
    assert done.returncode == 0, done.stderr


@pytest.fixture
def synced(
    signed_index: str, keys: Path, trust: Path, wheels: dict[str, Path], tmp_path: Path
) -> Path:
    """alpha 1.0.0 synced with trust, then alpha 1.1.0 published (signed, not yet synced)."""
    cli_ok("publish", wheels["alpha-1.0.0"], "--index", signed_index, "--keys", keys)
    plugin_dir = tmp_path / "plugins"
    sync(["alpha"], index=signed_index, plugin_dir=plugin_dir, trust=trust)
    cli_ok("publish", wheels["alpha-1.1.0"], "--index", signed_index, "--keys", keys)
    return plugin_dir


def forge(index_url: str, data: bytes) -> None:
    """Replace alpha 1.1.0's bundle with ``data`` and rewrite the unsigned documents to match."""
    overwrite(index_url, BUNDLE_110, data)
    root = RootDocument.from_bytes(read_object(index_url, "index.json"), what="index.json")
    entry = root.projects["alpha"]
    document = ProjectDocument.from_bytes(
        read_object(index_url, entry.document), entry.sha256, what=entry.document
    )
    forged = document.with_files(
        [
            replace(f, sha256=hashlib.sha256(data).hexdigest(), size=len(data))
            if f.filename == "alpha-1.1.0-py3-none-any.whl"
            else f
            for f in document.files
        ]
    )
    overwrite(index_url, forged.key, forged.to_bytes())
    forged_root = root.with_projects({"alpha": ProjectEntry.for_document(forged)})
    overwrite(index_url, "index.json", forged_root.to_bytes())


def replacement(how: str, real: bytes, evil: bytes) -> bytes:
    if how == "other-wheel":  # another build of alpha 1.1.0: a few bytes shorter
        return evil
    if how == "same-size":
        flipped = bytearray(real)
        flipped[len(flipped) // 2] ^= 0xFF
        return bytes(flipped)
    return real + b"\0" * 10  # longer


@pytest.mark.parametrize("streamed", [False, True], ids=["in-memory", "streamed"])
@pytest.mark.parametrize("how", ["other-wheel", "same-size", "longer"])
def test_a_replaced_bundle_is_reported_as_not_matching_the_signed_metadata(
    how: str,
    streamed: bool,
    synced: Path,
    signed_index: str,
    trust: Path,
    wheels: dict[str, Path],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    real = read_object(signed_index, BUNDLE_110)
    served = replacement(how, real, wheels["evil-alpha-1.1.0"].read_bytes())
    assert served != real
    forge(signed_index, served)
    if streamed:  # the big-bundle path: extracted while it downloads
        monkeypatch.setattr(download, "IN_MEMORY_LIMIT", 0)
    before = whole_dir(synced)
    with pytest.raises(SignedMismatchError) as caught:
        sync(["alpha"], index=signed_index, plugin_dir=synced, trust=trust)
    message = str(caught.value)
    signed = f"{len(real)} bytes, sha256 {hashlib.sha256(real).hexdigest()}"
    assert f"{BUNDLE_110} does not match the signed metadata" in message
    assert f"its signed target is {signed}" in message
    assert f"the index served {len(served)} bytes" in message
    assert "possible tampering" in message
    assert "not a network fault" in message
    assert "truncated" not in message
    assert caught.value.subject == BUNDLE_110
    assert caught.value.expected == signed
    assert caught.value.found is not None
    assert caught.value.found.startswith(f"{len(served)} bytes")
    if how == "same-size":
        assert caught.value.found == (
            f"{len(served)} bytes, sha256 {hashlib.sha256(served).hexdigest()}"
        )
    assert isinstance(caught.value, IntegrityError)  # still an integrity failure, not retried
    assert whole_dir(synced) == before
    assert installed(synced) == {"alpha": "1.0.0"}


def test_the_cli_says_possible_tampering_in_one_line(
    synced: Path, signed_index: str, trust: Path, wheels: dict[str, Path]
) -> None:
    real = read_object(signed_index, BUNDLE_110)
    evil = wheels["evil-alpha-1.1.0"].read_bytes()
    forge(signed_index, evil)
    before = whole_dir(synced)
    done = run_cli(
        "sync", "alpha", "--index", signed_index, "--plugin-dir", str(synced),
        "--trust", str(trust),
    )  # fmt: skip
    assert done.returncode == 1, done.stderr
    lines = done.stderr.splitlines()
    assert len(lines) == 1, done.stderr
    assert re.fullmatch(
        rf"error: .*{re.escape(BUNDLE_110)} does not match the signed metadata: its signed "
        rf"target is {len(real)} bytes, sha256 [0-9a-f]{{64}}, the index served {len(evil)} "
        r"bytes; possible tampering .*",
        lines[0],
    ), lines[0]
    assert "truncated" not in lines[0]
    assert whole_dir(synced) == before


def test_a_truncated_bundle_on_an_unsigned_index_still_says_truncated(
    index_url: str, wheels: dict[str, Path], tmp_path: Path
) -> None:
    storage = open_storage(index_url)
    init_index(storage)
    publish(storage, [wheels["alpha-1.0.0"]])
    key = "bundles/alpha/alpha-1.0.0-py3-none-any.whl"
    data = read_object(index_url, key)
    overwrite(index_url, key, data[: len(data) // 2])
    with pytest.raises(IntegrityError) as caught:
        sync(["alpha"], index=index_url, plugin_dir=tmp_path / "plugins")
    assert not isinstance(caught.value, SignedMismatchError)
    assert f"truncated download, {len(data) // 2} of {len(data)} bytes" in str(caught.value)
    assert "signed" not in str(caught.value)


@pytest.fixture
def moto_signed(
    moto_server: S3Server,
    monkeypatch: pytest.MonkeyPatch,
    keys: Path,
    wheels: dict[str, Path],
) -> str:
    """A signed index with alpha 1.0.0 on moto (the fault proxy needs a server that does not
    check signatures)."""
    moto_server.apply(monkeypatch)
    url = f"s3://{moto_server.create_bucket('signed-faults')}/plugins"
    cli_ok("index", "init", url, "--signed", "--keys", keys)
    cli_ok("publish", wheels["alpha-1.0.0"], "--index", url, "--keys", keys)
    return url


def _cut_bundles(times: int) -> object:
    hits = {"count": 0}

    def plan(_number: int, _method: str, path: str) -> str:
        if "/bundles/alpha" in path and hits["count"] < times:
            hits["count"] += 1
            return CUT
        return FORWARD

    return plan


def test_a_stream_cut_by_the_network_on_a_signed_index_is_a_network_fault(
    moto_server: S3Server,
    moto_signed: str,
    trust: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    with FaultProxy(moto_server.endpoint) as proxy:
        monkeypatch.setenv("AWS_ENDPOINT_URL", proxy.url)
        proxy.plan = _cut_bundles(100)  # type: ignore[assignment]
        plugin_dir = tmp_path / "plugins"
        with pytest.raises(DioptraPluginsError) as caught:
            sync(["alpha"], index=moto_signed, plugin_dir=plugin_dir, trust=trust)
        assert not isinstance(caught.value, SignedMismatchError)
        assert "failed 3 times" in str(caught.value)
        assert "signed metadata" not in str(caught.value)
        assert installed(plugin_dir) == {}
        proxy.plan = _cut_bundles(2)  # type: ignore[assignment]
        result = sync(["alpha"], index=moto_signed, plugin_dir=plugin_dir, trust=trust)
        assert result.installed == {"alpha": "1.0.0"}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:
        pass


@pytest.fixture
def served_dir(tmp_path: Path) -> Iterator[tuple[Path, str]]:
    """A static HTTP server on 127.0.0.1 in front of a directory (as a CDN would be)."""
    directory = tmp_path / "served-index"
    directory.mkdir()
    httpd = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(_QuietHandler, directory=str(directory))
    )
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    yield directory, f"http://127.0.0.1:{httpd.server_address[1]}/"
    httpd.shutdown()
    httpd.server_close()


def test_over_http_a_short_bundle_may_be_tampering_or_a_cut_response(
    served_dir: tuple[Path, str], keys: Path, trust: Path, wheels: dict[str, Path], tmp_path: Path
) -> None:
    """An HTTP index cannot be listed, so the size of the stored object is unknown: the message
    names both causes instead of asserting one."""
    directory, url = served_dir
    cli_ok("index", "init", directory, "--signed", "--keys", keys)
    cli_ok("publish", wheels["alpha-1.1.0"], "--index", directory, "--keys", keys)
    real = read_object(str(directory), BUNDLE_110)
    short = real[:-100]
    forge(str(directory), short)
    with pytest.raises(SignedMismatchError) as caught:
        sync(["alpha"], index=url, plugin_dir=tmp_path / "plugins", trust=trust)
    message = str(caught.value)
    assert message.startswith(f"{url}{BUNDLE_110} does not match the signed metadata")
    assert f"its signed target is {len(real)} bytes" in message
    assert f"the index served {len(short)} bytes" in message
    assert "possible tampering" in message
    assert "cut short by a cache or proxy" in message
    assert "truncated" not in message
    # Longer than signed: no network fault makes bytes up, so it is tampering alone.
    forge(str(directory), real + b"\0" * 10)
    with pytest.raises(SignedMismatchError) as longer:
        sync(["alpha"], index=url, plugin_dir=tmp_path / "plugins", trust=trust)
    assert f"the index served more than {len(real)} bytes; possible tampering" in str(longer.value)
    assert "cut short" not in str(longer.value)
