"""Helpers shared by the index tests (a uniquely named module: never import ``conftest``)."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dioptra_plugins.index.storage import Storage, StoredObject

WheelMaker = Callable[..., Path]


def read_json(storage: Storage, key: str) -> Any:
    stored = storage.get(key)
    assert isinstance(stored, StoredObject)
    return json.loads(stored.data)


def snapshot(storage: Storage) -> dict[str, bytes]:
    """Every object of the index with its bytes: compare two to prove nothing was written."""
    contents = {}
    for info in storage.list():
        with storage.open(info.key) as stream:
            contents[info.key] = stream.read()
    return contents
