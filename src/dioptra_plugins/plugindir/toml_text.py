"""TOML text of a lock's packages, byte for byte as tomli_w writes it, written directly.

tomli_w's general walk over a document costs about 70 us a package (27 ms of a changed sync's
lock at 400 bundles); a lock's package entries have one fixed shape, so they are written here
(``pylock.lock_to_toml``), and a test checks the bytes against tomli_w's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def package_entry(table: Mapping[str, Any], tool: str) -> str:
    """The ``[[packages]]`` entry tomli_w writes for a lock's package table (``pylock``'s
    ``_package_table``; ``tool`` names its tool table).  Its tables are never inline (a
    mapping never is, and the wheel's inline form is always over tomli_w's 100 characters:
    its sha256 alone is 64), and its keys are all bare."""
    (wheel,) = table["wheels"]
    (ours,) = table["tool"].values()
    lines = ["[[packages]]", *_pairs(table, ("name", "version", "index"))]
    lines += ["", "[[packages.wheels]]", *_pairs(wheel, ("name", "url", "size"))]
    lines += ["", "[packages.wheels.hashes]", *_pairs(wheel["hashes"], ("sha256",))]
    lines += ["", f"[packages.tool.{tool}]", *_pairs(ours, ("top-level",))]
    if "provenance" in ours:
        lines += ["", f"[packages.tool.{tool}.provenance]"]
        lines += _pairs(ours["provenance"], tuple(ours["provenance"]))
    return "\n".join(lines) + "\n"


def _pairs(table: Mapping[str, Any], keys: tuple[str, ...]) -> list[str]:
    return [f"{key} = {_toml_value(table[key])}" for key in keys if key in table]


_COMPACT = {"\b": "\\b", "\n": "\\n", "\f": "\\f", "\r": "\\r", '"': '\\"', "\\": "\\\\"}
_ESCAPED = frozenset(chr(c) for c in range(32) if c != 9) | {chr(127), '"', "\\"}


def _toml_value(value: object) -> str:
    """A string, integer or boolean as tomli_w writes it (a basic string, escaped alike)."""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return str(value)
    text = str(value)
    if _ESCAPED.isdisjoint(text):
        return f'"{text}"'
    escaped = (
        _COMPACT.get(char, f"\\u{ord(char):04x}") if char in _ESCAPED else char for char in text
    )
    return '"' + "".join(escaped) + '"'
