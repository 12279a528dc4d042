"""A big bundle readable while it is still downloading, held in a bounded window of memory.

A wheel's zip directory and its ``.dist-info`` (what verification reads first) are at the end
of the file, so a big bundle could only be verified once the whole file had arrived: download,
then unpack, one after the other, with the wheel written to disk in between.
:class:`ArrivingFile` lets them overlap without that copy.  The end of the file is read first
with one ranged request (``Storage.read_tail``); the download hands its chunks over in order,
and a read of bytes that have not arrived yet waits for them.  So ``zipfile`` (unchanged) reads
the directory from the tail at once, then each entry as its bytes come in.

Entries are read in order of their place in the file (hatchling writes them so), so bytes
before the latest read are dropped: memory holds at most :data:`WINDOW` bytes ahead of the
reader, and the download waits when it is that far ahead.  A read of bytes already dropped (an
archive whose directory lists entries out of order) raises :class:`NotStreamable`, and the
caller downloads the bundle first instead.

Nothing read through it is trusted early: :meth:`ArrivingFile.settle` waits for the whole
download, which checks size and sha256 against the index, and reports whether the tail read
separately is byte for byte the end of the checked file.  Only then may what was extracted be
moved into the store.
"""

from __future__ import annotations

import collections
import io
import os
import threading
from typing import TYPE_CHECKING

from dioptra_plugins.errors import IntegrityError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer

WINDOW = 32 * 1024 * 1024
"""How far (in bytes) the download may run ahead of the reader before it waits."""


class DownloadFailed(Exception):
    """A read gave up because the download behind it failed (``error`` says why).

    Deliberately not an OSError nor a RuntimeError: verification turns those into "damaged
    bundle" problems, and this is not the bundle's fault.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class NotStreamable(Exception):
    """A read went back to bytes already dropped: this archive cannot be read as it arrives."""


class DownloadCancelled(Exception):
    """Raised in the downloading thread once nobody needs the rest of the file."""


class ArrivingFile(io.RawIOBase):
    """A read-only, seekable view of a ``size``-byte download named ``name`` as it arrives.

    The writer (one downloading thread) calls :meth:`arrived` with each chunk in order, then
    :meth:`complete` or :meth:`fail`.  Readers (``zipfile``) read bytes of ``tail`` at once and
    others once they have arrived.  Cost: one copy of each byte into the reader's buffer.
    """

    def __init__(self, name: str, size: int, tail: bytes, window: int | None = None) -> None:
        super().__init__()
        self.name = name
        self.size = size
        self.tail = tail
        self.window = WINDOW if window is None else window
        self._tail_start = size - len(tail)
        self._position = 0
        self._chunks: collections.deque[tuple[int, bytes]] = collections.deque()
        self._held = 0  # bytes in _chunks
        self._arrived = 0  # bytes handed over by the writer so far
        self._low = 0  # no byte before this is read any more (dropped or never kept)
        self._wanted = 0  # the end of the read waiting for bytes (it may exceed the window)
        self._tail_differs = False
        self._finished = False
        self._error: BaseException | None = None
        self._cancelled = False
        self._changed = threading.Condition()

    # --- the writer's side -------------------------------------------------------------------

    def arrived(self, chunk: bytes) -> None:
        """The next ``chunk`` of the file.  Waits while the download is a window ahead of the
        reader; raises DownloadCancelled once nobody reads any more."""
        with self._changed:
            self._changed.wait_for(
                lambda: self._cancelled or self._held <= self.window or self._arrived < self._wanted
            )
            if self._cancelled:
                raise DownloadCancelled
            start = self._arrived
            end = start + len(chunk)
            if end > self._tail_start:
                # The tail is served from what was read first; check it is what arrives now.
                overlap = max(start, self._tail_start)
                if (
                    chunk[overlap - start :]
                    != self.tail[overlap - self._tail_start : end - self._tail_start]
                ):
                    self._tail_differs = True
            kept_from = max(start, self._low)
            if kept_from < min(end, self._tail_start):
                self._chunks.append((start, chunk))
                self._held += len(chunk)
            self._arrived = end
            self._changed.notify_all()

    def complete(self) -> None:
        """The download ended and matched the index's size and sha256."""
        self._tell(finished=True)

    def fail(self, error: BaseException) -> None:
        """The download failed with ``error``: every waiting and later read raises it."""
        self._tell(finished=True, error=error)

    # --- the reader's side -------------------------------------------------------------------

    def cancel(self) -> None:
        """Nobody will read further: the download stops at its next chunk."""
        self._tell(cancelled=True)

    def _tell(
        self, *, finished: bool = False, cancelled: bool = False, error: BaseException | None = None
    ) -> None:
        """Record how the download ends (or that its reader stopped) and wake whoever waits."""
        with self._changed:
            self._finished = self._finished or finished
            self._cancelled = self._cancelled or cancelled
            self._error = error or self._error
            self._changed.notify_all()

    def wait(self) -> None:
        """Read nothing more, and wait for the end of the download, however it ends."""
        with self._changed:
            self._drop_before(self.size)
            self._changed.wait_for(lambda: self._finished)

    def settle(self) -> None:
        """Wait for the end of the download; raise DownloadFailed with its error, or
        IntegrityError when the tail read first is not the end of the file that was checked."""
        self.wait()
        if self._error is not None:
            raise DownloadFailed(self._error)
        if self._tail_differs:
            raise IntegrityError(
                f"the end of the bundle read first ({len(self.tail)} bytes) is not the end of "
                "the file downloaded after it: the object changed between the two requests",
                subject=f"the last {len(self.tail)} bytes",
                expected="the bytes read first",
                found="different bytes",
            )

    def readable(self) -> bool:
        return True

    def seekable(self) -> bool:
        return True

    def tell(self) -> int:
        return self._position

    def seek(self, offset: int, whence: int = os.SEEK_SET) -> int:
        if whence == os.SEEK_SET:
            position = offset
        elif whence == os.SEEK_CUR:
            position = self._position + offset
        elif whence == os.SEEK_END:
            position = self.size + offset
        else:
            raise ValueError(f"invalid whence {whence}")
        if position < 0:
            raise ValueError(f"negative seek position {position}")
        self._position = position
        return position

    def read(self, size: int | None = -1, /) -> bytes:
        # Overridden (RawIOBase.read would go through readinto and copy twice): a read inside
        # one downloaded chunk is one slice of it, or the chunk itself.
        start = self._position
        end = self.size if size is None or size < 0 else min(start + size, self.size)
        if start >= end:
            return b""
        pieces: list[bytes | memoryview] = []
        if start < self._tail_start:
            pieces = self._pieces(start, min(end, self._tail_start))
        if end > self._tail_start:
            pieces.append(
                self.tail[max(start, self._tail_start) - self._tail_start : end - self._tail_start]
            )
        data = pieces[0] if len(pieces) == 1 else b"".join(pieces)
        self._position = end
        return bytes(data)  # no copy when it is a whole chunk already

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        data = self.read(len(view))
        view[: len(data)] = data
        return len(data)

    def _pieces(self, start: int, end: int) -> list[bytes | memoryview]:
        """The bytes [start, end), once they have arrived, as views of the chunks holding them."""
        with self._changed:
            if start < self._low and not (self._chunks and self._chunks[0][0] <= start):
                raise NotStreamable(
                    f"{self.name}: read back to byte {start}, already dropped (entries out of "
                    "order)"
                )
            self._drop_before(start)
            self._wanted = end
            self._changed.notify_all()
            self._changed.wait_for(lambda: self._arrived >= end or self._finished)
            if self._arrived < end:
                if self._error is not None:
                    raise DownloadFailed(self._error)
                # Finished short: a download never completes so (it checks the size).
                raise DownloadFailed(EOFError(f"the download ended at byte {self._arrived}"))
            pieces: list[bytes | memoryview] = []
            for offset, chunk in self._chunks:
                if offset >= end:
                    break
                if offset + len(chunk) <= start:
                    continue
                if offset >= start and offset + len(chunk) <= end:
                    pieces.append(chunk)
                else:
                    pieces.append(memoryview(chunk)[max(start, offset) - offset : end - offset])
            return pieces

    def _drop_before(self, position: int) -> None:
        """Forget the chunks that end before ``position`` (the reader is past them)."""
        self._low = max(self._low, position)
        while self._chunks and self._chunks[0][0] + len(self._chunks[0][1]) <= self._low:
            _offset, chunk = self._chunks.popleft()
            self._held -= len(chunk)
        self._changed.notify_all()
