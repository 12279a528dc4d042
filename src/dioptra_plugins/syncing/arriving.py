"""A big bundle readable while it is still downloading.

A wheel's zip directory and its ``.dist-info`` (what verification reads first) are at the end
of the file, so a big bundle could only be verified once the whole file had arrived: download,
then unpack, one after the other.  :class:`ArrivingFile` lets them overlap.  The end of the file
is read first with one ranged request (``Storage.read_tail``); the download writes the rest into
a temporary file in order, and a read of bytes that have not arrived yet waits for them.  So
``zipfile`` (unchanged) reads the directory from the tail at once, then each entry as its bytes
come in.

Nothing read through it is trusted early: :meth:`ArrivingFile.settle` waits for the whole
download, which checks size and sha256 against the index, and then checks that the tail read
separately is byte for byte the end of the checked file.  Only then may what was extracted be
moved into the store.
"""

from __future__ import annotations

import io
import os
import threading
from typing import TYPE_CHECKING

from dioptra_plugins.errors import IntegrityError

if TYPE_CHECKING:
    from _typeshed import WriteableBuffer


class DownloadFailed(Exception):
    """A read gave up because the download behind it failed (``error`` says why).

    Deliberately not an OSError nor a RuntimeError: verification turns those into "damaged
    bundle" problems, and this is not the bundle's fault.
    """

    def __init__(self, error: BaseException) -> None:
        super().__init__(str(error))
        self.error = error


class DownloadCancelled(Exception):
    """Raised in the downloading thread once nobody needs the rest of the file."""


class ArrivingFile(io.RawIOBase):
    """A read-only, seekable view of ``path`` (``size`` bytes once complete) as it is written.

    The writer (one downloading thread) writes bytes in order with unbuffered writes and calls
    :meth:`arrived` after each, then :meth:`complete` or :meth:`fail`.  Readers (``zipfile``)
    read with ``os.pread``: bytes in ``tail`` at once, others once they have arrived.
    Cost: one ``pread`` per read; waiting costs nothing but the wait.
    """

    def __init__(self, path: str | os.PathLike[str], size: int, tail: bytes) -> None:
        super().__init__()
        self.name = os.fspath(path)
        self.size = size
        self.tail = tail
        self._tail_start = size - len(tail)
        self._descriptor = os.open(path, os.O_RDONLY)
        self._position = 0
        self._arrived = 0
        self._finished = False
        self._error: BaseException | None = None
        self._cancelled = False
        self._changed = threading.Condition()

    # --- the writer's side -------------------------------------------------------------------

    def arrived(self, count: int) -> None:
        """``count`` more bytes are in the file.  Raises DownloadCancelled once not wanted."""
        with self._changed:
            self._arrived += count
            self._changed.notify_all()
            if self._cancelled:
                raise DownloadCancelled

    def complete(self) -> None:
        """The download ended and matched the index's size and sha256."""
        with self._changed:
            self._finished = True
            self._changed.notify_all()

    def fail(self, error: BaseException) -> None:
        """The download failed with ``error``: every waiting and later read raises it."""
        with self._changed:
            self._finished = True
            self._error = error
            self._changed.notify_all()

    # --- the reader's side -------------------------------------------------------------------

    def cancel(self) -> None:
        """Nobody will read further: the download stops at its next chunk."""
        with self._changed:
            self._cancelled = True
            self._changed.notify_all()

    @property
    def error(self) -> BaseException | None:
        """Why the download failed (None while it runs or once it matched)."""
        return self._error

    def wait(self) -> None:
        """Wait for the end of the download, however it ended."""
        with self._changed:
            self._changed.wait_for(lambda: self._finished)

    def settle(self) -> None:
        """Wait for the end of the download; raise its error, or IntegrityError when the tail
        read first is not the end of the file that was checked."""
        self.wait()
        if self._error is not None:
            raise DownloadFailed(self._error)
        end = os.pread(self._descriptor, len(self.tail), self._tail_start)
        if end != self.tail:
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

    def readinto(self, buffer: WriteableBuffer, /) -> int:
        view = memoryview(buffer).cast("B")
        start = self._position
        end = min(start + len(view), self.size)
        if start >= end:
            return 0
        if start >= self._tail_start:
            data = self.tail[start - self._tail_start : end - self._tail_start]
        else:
            end = min(end, self._tail_start)
            self._wait_for(end)
            data = os.pread(self._descriptor, end - start, start)
        view[: len(data)] = data
        self._position = start + len(data)
        return len(data)

    def _wait_for(self, end: int) -> None:
        with self._changed:
            self._changed.wait_for(lambda: self._arrived >= end or self._finished)
            if self._arrived >= end:
                return
            if self._error is not None:
                raise DownloadFailed(self._error)
            # Finished without the bytes: a download never completes short (it checks the size).
            raise DownloadFailed(EOFError(f"the download ended at byte {self._arrived}"))

    def close(self) -> None:
        if not self.closed:
            os.close(self._descriptor)
        super().close()
