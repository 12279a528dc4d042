"""A thread-safe count of the requests a storage backend made (sync reports it)."""

from __future__ import annotations

import threading


class RequestCounter:
    """Counts requests from any number of threads; read ``value`` at any time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._value = 0

    def add(self, amount: int = 1) -> None:
        with self._lock:
            self._value += amount

    @property
    def value(self) -> int:
        return self._value
