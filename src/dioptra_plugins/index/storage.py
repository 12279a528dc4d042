"""The storage interface every index backend implements (DESIGN §4).

A few operations are enough for a lock-free index: a get (and a conditional one, for the root),
a create-only put, a compare-and-swap replace of the one mutable object, and a listing.  Costs
are stated per backend: on S3 every call is one HTTP request (``list`` one per 1,000 keys);
locally every call is a handful of syscalls.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO, Protocol


@dataclass(frozen=True)
class StoredObject:
    """The bytes of one object and the ETag that names this version of it."""

    key: str
    data: bytes
    etag: str


@dataclass(frozen=True)
class NotModified:
    """A conditional get found the object still at the ETag the caller already holds."""

    key: str
    etag: str


@dataclass(frozen=True)
class WholeObject:
    """What :meth:`Storage.read_tail` answers when the backend was asked for the end of an
    object and started sending all of it (an HTTP host that ignores ``Range``): the open stream
    of the whole object, which the caller reads as a download and closes."""

    stream: BinaryIO


@dataclass(frozen=True)
class ObjectInfo:
    """One entry of a listing."""

    key: str
    size: int


class Storage(Protocol):
    """A flat key space of objects under one index URL.

    Keys are ``/``-separated and relative to the index prefix.  Implementations must be safe to
    use from several threads at once.
    """

    url: str

    @property
    def requests(self) -> int:
        """How many requests this instance has made so far (S3: HTTP attempts, retries too)."""
        ...

    def prepare(self) -> None:
        """Make the index location usable, or say clearly why it is not (``index init``).

        Local: create the directory.  S3: one HEAD of the bucket, which turns a missing bucket
        or bad credentials into one StorageError.  Cost: at most one request.
        """
        ...

    def get(self, key: str) -> StoredObject:
        """Read a whole object.  Raises ObjectNotFoundError when it does not exist.

        Cost: one request.
        """
        ...

    def get_if_changed(self, key: str, etag: str) -> StoredObject | NotModified:
        """Read a whole object unless its ETag is still ``etag`` (:class:`NotModified`).

        Raises ObjectNotFoundError.  Cost: one request (a 304 carries no body).
        """
        ...

    def open(self, key: str) -> BinaryIO:
        """Stream an object's bytes (for bundles: never the whole bundle in memory).

        Raises ObjectNotFoundError.  Cost: one request; the caller closes the stream.
        """
        ...

    def read_tail(self, key: str, length: int) -> bytes | WholeObject | None:
        """The last ``length`` bytes of an object (all of it when it is shorter); None when
        this backend cannot read part of an object, or a :class:`WholeObject` when it started
        sending all of it instead (an HTTP host that ignores ``Range``).

        A big bundle's zip directory is at its end: read first, it lets the bundle be verified
        and extracted while the rest is still arriving.  The bytes are untrusted until the whole
        object has been checked.  Raises ObjectNotFoundError.  Cost: one request.
        """
        ...

    def put_new(self, key: str, data: bytes | BinaryIO) -> str:
        """Create ``key`` only if it does not exist yet; returns the new ETag.

        Raises ObjectExistsError when it exists (whatever its content).  Cost: one request.
        """
        ...

    def replace(self, key: str, data: bytes, if_match: str | None) -> str:
        """Replace ``key`` only if its ETag is still ``if_match`` (None: only if it is absent).

        Returns the new ETag; raises ConflictError when the object changed.  Cost: one request.
        """
        ...

    def list(self, prefix: str = "") -> Iterator[ObjectInfo]:
        """Every key starting with ``prefix``, in key order.  Cost: one request per 1,000 keys."""
        ...
