"""Big bundles are verified and extracted while they download (syncing/arriving.py).

Every bundle counts as big here (``IN_MEMORY_LIMIT`` is 0) and the tail read first is short, so
most of each bundle is read through the wait-for-arrival path.  The bundles are real hatchling
wheels with an incompressible data file, synced from real storages; the only fakes are at the
storage's read boundary (a slowed, tampered or broken stream, a wrong tail).
"""

from __future__ import annotations

import contextlib
import errno
import functools
import http.server
import io
import logging
import os
import random
import threading
import time
import zipfile
from collections.abc import Iterator
from pathlib import Path
from typing import Any, BinaryIO

import pytest
from synchelpers import installed, make_package, publish_wheels, snapshot

from dioptra_plugins import sync
from dioptra_plugins.bundle.build import build_bundle
from dioptra_plugins.errors import IntegrityError
from dioptra_plugins.index.local import LocalStorage
from dioptra_plugins.plugindir.verify_dir import verify
from dioptra_plugins.syncing import arriving, download
from dioptra_plugins.syncing.arriving import (
    ArrivingFile,
    DownloadCancelled,
    DownloadFailed,
    NotStreamable,
)
from snapshots import tree_snapshot

TAIL = 32768


@pytest.fixture(scope="module")
def heavy(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A bundle of 12 modules and 600 KB of random bytes (the data comes first in the zip)."""
    work = tmp_path_factory.mktemp("heavy")
    package = make_package(work / "src", "heavy", "1.0.0", modules=12)
    (package / "a_weights.bin").write_bytes(random.Random(1).randbytes(600_000))
    return build_bundle(package, work / "wheels", version="1.0.0")


@pytest.fixture
def streamed(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(download, "IN_MEMORY_LIMIT", 0)
    monkeypatch.setattr(download, "TAIL_LENGTH", TAIL)


def store_tree(plugin_dir: Path) -> dict[str, str]:
    """The store's files with modes and hashes (bytecode by name: a pyc embeds its own path)."""
    tree = tree_snapshot(plugin_dir / ".dioptra-plugins" / "store", modes=True)
    by_name = (".pyc", "/.bytecode.json")
    return {name: "named" if name.endswith(by_name) else value for name, value in tree.items()}


def leftovers(plugin_dir: Path) -> list[str]:
    """Staging directories and temporary downloads left behind."""
    state = plugin_dir / ".dioptra-plugins"
    return sorted(
        str(p.relative_to(state))
        for p in state.rglob("*")
        if p.name.startswith((".staging-", ".tmp-"))
    )


def test_a_streamed_bundle_is_stored_as_a_downloaded_one_is(
    index_url: str, heavy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    publish_wheels(index_url, [heavy])
    whole = sync(["heavy"], index=index_url, plugin_dir=tmp_path / "whole")
    with monkeypatch.context() as patch:
        patch.setattr(download, "IN_MEMORY_LIMIT", 0)
        patch.setattr(download, "TAIL_LENGTH", TAIL)
        streamed = sync(["heavy"], index=index_url, plugin_dir=tmp_path / "streamed")
    assert streamed.switched
    assert streamed.requests == whole.requests + 1  # the tail
    assert store_tree(tmp_path / "streamed") == store_tree(tmp_path / "whole")
    assert verify(tmp_path / "streamed").ok
    assert installed(tmp_path / "streamed") == {"heavy": "1.0.0"}
    assert leftovers(tmp_path / "streamed") == []


@pytest.mark.parametrize("chunk", [997, 65536])
def test_headers_and_entries_across_chunk_boundaries(
    streamed: None, heavy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, chunk: int
) -> None:
    """Downloaded in odd-sized chunks, with a window of a few chunks: every zip header and
    entry read spans chunks (and the tail's start), and the store is the same."""
    index = str(tmp_path / "index")
    publish_wheels(index, [heavy])
    sync(["heavy"], index=index, plugin_dir=tmp_path / "whole")
    monkeypatch.setattr(download, "CHUNK_SIZE", chunk)
    monkeypatch.setattr(arriving, "WINDOW", 4 * chunk)
    monkeypatch.setattr(download, "TAIL_LENGTH", 3001)
    sync(["heavy"], index=index, plugin_dir=tmp_path / "streamed")
    assert store_tree(tmp_path / "streamed") == store_tree(tmp_path / "whole")
    assert verify(tmp_path / "streamed").ok


def test_extraction_starts_before_the_download_ends(
    streamed: None, heavy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stream stops half-way until the first entry has been extracted into staging."""
    index = str(tmp_path / "index")
    publish_wheels(index, [heavy])
    plugin_dir = tmp_path / "plugins"
    store = plugin_dir / ".dioptra-plugins" / "store"
    seen_early: list[bool] = []
    real_open = LocalStorage.open

    class HalfThenWait:
        def __init__(self, stream: BinaryIO) -> None:
            self.stream = stream
            self.given = 0
            self.half = heavy.stat().st_size // 2

        def read(self, size: int = -1) -> bytes:
            if self.given >= self.half and not seen_early:
                deadline = time.monotonic() + 10
                while time.monotonic() < deadline:
                    if any(store.glob(".staging-*/heavy/__init__.py")):
                        break
                    time.sleep(0.005)
                seen_early.append(any(store.glob(".staging-*/heavy/__init__.py")))
            chunk = self.stream.read(min(size, 65536) if size > 0 else 65536)
            self.given += len(chunk)
            return chunk

        def close(self) -> None:
            self.stream.close()

        def __enter__(self) -> HalfThenWait:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    def gated_open(self: LocalStorage, key: str) -> Any:
        stream = real_open(self, key)
        return HalfThenWait(stream) if key.endswith(".whl") else stream

    monkeypatch.setattr(LocalStorage, "open", gated_open)
    result = sync(["heavy"], index=index, plugin_dir=plugin_dir)
    assert result.switched
    assert seen_early == [True]
    assert verify(plugin_dir).ok


def test_a_changed_byte_is_refused_as_not_the_indexed_file(
    streamed: None, heavy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Verification meets the damage first (a bad CRC), but the download's verdict is what is
    reported: the bytes are not the file the index lists."""
    index = str(tmp_path / "index")
    publish_wheels(index, [heavy])
    plugin_dir = tmp_path / "plugins"
    real_open = LocalStorage.open

    def tampered_open(self: LocalStorage, key: str) -> Any:
        stream = real_open(self, key)
        if not key.endswith(".whl"):
            return stream
        with stream:
            data = bytearray(stream.read())
        data[len(data) // 3] ^= 0x01
        return io.BytesIO(bytes(data))

    monkeypatch.setattr(LocalStorage, "open", tampered_open)
    before = snapshot(plugin_dir) if plugin_dir.exists() else None
    with pytest.raises(IntegrityError, match="does not match the index"):
        sync(["heavy"], index=index, plugin_dir=plugin_dir)
    assert installed(plugin_dir) == {}
    assert not list((plugin_dir / ".dioptra-plugins" / "store").glob("[0-9a-f]*"))
    assert leftovers(plugin_dir) == []
    assert before is None


def test_a_tail_that_is_not_the_end_of_the_file_is_refused(
    streamed: None, heavy: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [heavy])
    plugin_dir = tmp_path / "plugins"
    real_tail = LocalStorage.read_tail

    def other_tail(self: LocalStorage, key: str, length: int) -> bytes | None:
        tail = bytearray(real_tail(self, key, length) or b"")
        tail[-length // 2] ^= 0x01  # inside RECORD, METADATA or the zip directory
        return bytes(tail)

    monkeypatch.setattr(LocalStorage, "read_tail", other_tail)
    with pytest.raises(IntegrityError, match="end of the bundle read first"):
        sync(["heavy"], index=index, plugin_dir=plugin_dir)
    assert installed(plugin_dir) == {}
    assert not list((plugin_dir / ".dioptra-plugins" / "store").glob("[0-9a-f]*"))
    assert leftovers(plugin_dir) == []


def test_a_stream_that_breaks_is_tried_again_from_the_start(
    streamed: None,
    heavy: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    index = str(tmp_path / "index")
    publish_wheels(index, [heavy])
    plugin_dir = tmp_path / "plugins"
    real_open = LocalStorage.open
    opened: list[str] = []

    class BreaksHalfWay:
        def __init__(self, stream: BinaryIO) -> None:
            self.stream = stream
            self.given = 0

        def read(self, size: int = -1) -> bytes:
            if self.given > heavy.stat().st_size // 2:
                raise ConnectionResetError(errno.ECONNRESET, "connection reset by peer")
            chunk = self.stream.read(65536)
            self.given += len(chunk)
            return chunk

        def close(self) -> None:
            self.stream.close()

        def __enter__(self) -> BreaksHalfWay:
            return self

        def __exit__(self, *exc: object) -> None:
            self.close()

    def flaky_open(self: LocalStorage, key: str) -> Any:
        stream = real_open(self, key)
        if not key.endswith(".whl"):
            return stream
        opened.append(key)
        return BreaksHalfWay(stream) if len(opened) == 1 else stream

    monkeypatch.setattr(LocalStorage, "open", flaky_open)
    monkeypatch.setattr(time, "sleep", lambda _seconds: None)  # the retries' back-off
    with caplog.at_level(logging.WARNING, logger="dioptra_plugins.syncing.download"):
        result = sync(["heavy"], index=index, plugin_dir=plugin_dir)
    assert result.switched
    assert len(opened) == 2
    assert "connection reset by peer" in caplog.text
    assert verify(plugin_dir).ok
    assert leftovers(plugin_dir) == []


class RangeHandler(http.server.SimpleHTTPRequestHandler):
    """A static host; with ``ranges`` it answers suffix ranges (``bytes=-N``) with 206."""

    protocol_version = "HTTP/1.1"
    ranges = True
    seen: list[tuple[str, int]]

    def log_message(self, format: str, *args: Any) -> None:
        pass

    def do_GET(self) -> None:
        path = Path(self.directory, self.path.lstrip("/"))
        if not path.is_file():
            self._answer(404, b"")
            return
        data = path.read_bytes()
        asked = self.headers.get("Range", "")
        if self.ranges and asked.startswith("bytes=-"):
            length = int(asked.removeprefix("bytes=-"))
            start = max(0, len(data) - length)
            self._answer(206, data[start:], f"bytes {start}-{len(data) - 1}/{len(data)}")
            return
        self._answer(200, data)

    def _answer(self, status: int, body: bytes, content_range: str | None = None) -> None:
        self.seen.append((self.path, status))
        self.send_response(status)
        if content_range:
            self.send_header("Content-Range", content_range)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        # The client may drop a response it did not want (a range the host ignored).
        with contextlib.suppress(BrokenPipeError, ConnectionResetError):
            self.wfile.write(body)


@pytest.fixture(params=[True, False], ids=["ranges", "no-ranges"])
def host(request: pytest.FixtureRequest, heavy: Path, tmp_path: Path) -> Iterator[Any]:
    directory = tmp_path / "index"
    publish_wheels(str(directory), [heavy])

    class Handler(RangeHandler):
        ranges = request.param
        seen: list[tuple[str, int]] = []  # noqa: RUF012 - this server's own log

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    server.seen = Handler.seen  # type: ignore[attr-defined]
    server.ranges = request.param  # type: ignore[attr-defined]
    server.url = f"http://127.0.0.1:{server.server_address[1]}/"  # type: ignore[attr-defined]
    yield server
    server.shutdown()
    server.server_close()


def test_an_http_host_with_or_without_ranges(
    streamed: None, host: Any, heavy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    """With ranges the tail is a 206 and the download a 200; a host that ignores them sends
    the whole bundle for the tail, which is the download (one request), and the log says why
    that bundle was written to disk before it was verified."""
    plugin_dir = tmp_path / "plugins"
    with caplog.at_level(logging.INFO, logger="dioptra_plugins.syncing.download"):
        result = sync(["heavy"], index=host.url, plugin_dir=plugin_dir)
    assert result.switched
    assert verify(plugin_dir).ok
    bundle_answers = [status for path, status in host.seen if path.endswith(".whl")]
    assert bundle_answers == ([206, 200] if host.ranges else [200])
    assert leftovers(plugin_dir) == []
    said = [r.getMessage() for r in caplog.records if "Range" in r.getMessage()]
    if host.ranges:
        assert said == []
    else:
        size = f"{heavy.stat().st_size / 1e6:.1f} MB"
        assert said == [
            f"{host.url} does not answer Range requests: downloading "
            f"heavy-1.0.0-py3-none-any.whl ({size}) before verifying it"
        ]


def test_a_whole_bundle_sent_for_the_tail_and_cut_short_is_downloaded_again(
    streamed: None, heavy: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    directory = tmp_path / "index"
    publish_wheels(str(directory), [heavy])

    class CutOnce(RangeHandler):
        ranges = False
        seen: list[tuple[str, int]] = []  # noqa: RUF012 - this server's own log
        cut = [True]  # noqa: RUF012 - the first bundle answer only

        def _answer(self, status: int, body: bytes, content_range: str | None = None) -> None:
            if not (self.path.endswith(".whl") and self.cut):
                super()._answer(status, body, content_range)
                return
            self.cut.clear()
            self.seen.append((self.path, status))
            self.send_response(status)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body[: len(body) // 2])
            self.close_connection = True  # the connection drops half-way

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(CutOnce, directory=str(directory))
    )
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    plugin_dir = tmp_path / "plugins"
    try:
        with caplog.at_level(logging.INFO, logger="dioptra_plugins.syncing.download"):
            result = sync(
                ["heavy"],
                index=f"http://127.0.0.1:{server.server_address[1]}/",
                plugin_dir=plugin_dir,
            )
    finally:
        server.shutdown()
        server.server_close()
    assert result.switched
    assert verify(plugin_dir).ok
    assert [status for path, status in CutOnce.seen if path.endswith(".whl")] == [200, 200]
    assert "download of heavy-1.0.0-py3-none-any.whl broke" in caplog.text
    assert leftovers(plugin_dir) == []


def out_of_order(work: Path) -> Path:
    """A bundle of two data files whose zip directory lists the second before the first."""
    package = make_package(work / "src", "twofiles", "1.0.0", modules=1)
    (package / "a_first.bin").write_bytes(random.Random(2).randbytes(300_000))
    (package / "b_second.bin").write_bytes(random.Random(3).randbytes(300_000))
    wheel = build_bundle(package, work / "wheels", version="1.0.0")
    (work / "reordered").mkdir()
    copy = work / "reordered" / wheel.name
    with zipfile.ZipFile(wheel) as source, zipfile.ZipFile(copy, "w") as out:
        for info in source.infolist():
            out.writestr(info, source.read(info))
        names = [i.filename for i in out.filelist]
        first, second = names.index("twofiles/a_first.bin"), names.index("twofiles/b_second.bin")
        out.filelist[first], out.filelist[second] = out.filelist[second], out.filelist[first]
    return copy


def test_an_archive_listed_out_of_order_is_downloaded_first(
    streamed: None,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """Reading it as it arrives would need bytes already dropped: it is downloaded first."""
    monkeypatch.setattr(download, "CHUNK_SIZE", 4096)  # chunks smaller than the files
    index = str(tmp_path / "index")
    publish_wheels(index, [out_of_order(tmp_path)])
    plugin_dir = tmp_path / "plugins"
    with caplog.at_level(logging.INFO, logger="dioptra_plugins.syncing.download"):
        result = sync(["twofiles"], index=index, plugin_dir=plugin_dir)
    assert result.switched
    assert "already dropped (entries out of order); downloading it first" in caplog.text
    assert verify(plugin_dir).ok
    assert installed(plugin_dir) == {"twofiles": "1.0.0"}
    assert leftovers(plugin_dir) == []


# --- ArrivingFile on its own -----------------------------------------------------------------


def test_reads_wait_for_bytes_and_the_tail_is_there_at_once() -> None:
    data = random.Random(4).randbytes(10_000)
    arriving = ArrivingFile("x.whl", len(data), data[-1000:])
    arriving.seek(-1000, os.SEEK_END)
    assert arriving.read(1000) == data[-1000:]  # before a single byte has arrived
    got: list[bytes] = []

    def read_across_chunks() -> None:
        arriving.seek(2000)
        got.append(arriving.read(5000))

    reader = threading.Thread(target=read_across_chunks)
    reader.start()
    time.sleep(0.05)
    assert not got  # still waiting
    for start in range(0, 9000, 3000):
        arriving.arrived(data[start : start + 3000])
    reader.join(timeout=5)
    assert got == [data[2000:7000]]
    arriving.seek(7500)
    assert arriving.read(1000) == data[7500:8500]
    arriving.seek(8900)  # across the start of the tail: one whole read, never a short one
    assert arriving.read(200) == data[8900:9100]
    arriving.arrived(data[9000:])
    arriving.complete()
    arriving.seek(8500)
    assert arriving.read() == data[8500:]
    assert arriving.read(10) == b""
    arriving.settle()
    arriving.seek(0)
    with pytest.raises(NotStreamable, match="already dropped"):
        arriving.read(10)


def test_the_download_waits_a_window_ahead_of_the_reader() -> None:
    data = random.Random(5).randbytes(100_000)
    arriving = ArrivingFile("x.whl", len(data), data[-100:], window=10_000)
    handed: list[int] = []

    def download() -> None:
        for start in range(0, len(data), 1000):
            arriving.arrived(data[start : start + 1000])
            handed.append(start)
        arriving.complete()

    writer = threading.Thread(target=download)
    writer.start()
    time.sleep(0.1)
    assert 10 <= len(handed) <= 12  # stopped at the window
    arriving.seek(50_000)  # skipping ahead (an entry verification does not read) frees it
    assert arriving.read(1000) == data[50_000:51_000]
    time.sleep(0.1)
    assert 60 <= len(handed) <= 63
    arriving.settle()  # reads nothing more: the rest is let through and dropped
    writer.join(timeout=5)
    assert len(handed) == 100


def test_a_failed_download_reaches_a_waiting_reader_as_its_own_error() -> None:
    arriving = ArrivingFile("x.whl", 4000, b"t" * 100)
    caught: list[BaseException] = []

    def read() -> None:
        try:
            arriving.read(2000)
        except BaseException as error:
            caught.append(error)

    reader = threading.Thread(target=read)
    reader.start()
    arriving.fail(ConnectionResetError(errno.ECONNRESET, "reset"))
    reader.join(timeout=5)
    (error,) = caught
    # Not an OSError: verification would call that a damaged bundle.
    assert isinstance(error, DownloadFailed)
    assert not isinstance(error, OSError | RuntimeError)
    assert isinstance(error.error, ConnectionResetError)
    with pytest.raises(DownloadFailed):
        arriving.settle()


def test_a_tail_that_differs_from_what_arrives_is_reported() -> None:
    data = random.Random(6).randbytes(5000)
    arriving = ArrivingFile("x.whl", len(data), data[-1000:-1] + b"?")
    arriving.arrived(data)
    arriving.complete()
    with pytest.raises(IntegrityError, match="end of the bundle read first"):
        arriving.settle()


def test_cancel_stops_the_writer_at_its_next_chunk() -> None:
    arriving = ArrivingFile("x.whl", 100, b"x" * 10)
    arriving.arrived(b"x" * 10)
    arriving.cancel()
    with pytest.raises(DownloadCancelled):
        arriving.arrived(b"x" * 10)
