"""TOML text of a lock's packages, byte for byte as tomli_w writes it, written directly.

tomli_w's general walk over a document costs about 70 us a package (27 ms of a changed sync's
lock at 400 bundles); a lock's package entries have one fixed shape, so they are written here
(``pylock.lock_to_toml``), and a test checks the bytes against tomli_w's.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from dioptra_plugins.plugindir.pylock import LockedPackage


def package_entry(
    package: LockedPackage, index_url: str | None, provenance: Mapping[str, Any] | None, tool: str
) -> str:
    """The ``[[packages]]`` entry tomli_w writes for a lock's package table (``pylock``'s
    ``_package_table`` of ``package``, whose index is ``index_url`` and whose provenance table
    is ``provenance``, None for none; ``tool`` names its tool table).  Its tables are never
    inline (a mapping never is, and the wheel's inline form is always over tomli_w's 100
    characters: its sha256 alone is 64), and its keys are all bare.  Written from the package's
    fields, not through that table: building the table was a third of this."""
    value = _toml_value
    lines = ["[[packages]]", f"name = {value(package.name)}", f"version = {value(package.version)}"]
    if index_url:
        lines.append(f"index = {value(index_url)}")
    lines += ["", "[[packages.wheels]]", f"name = {value(package.filename)}"]
    lines += [f"url = {value(package.url)}", f"size = {value(package.size)}"]
    lines += ["", "[packages.wheels.hashes]", f"sha256 = {value(package.sha256)}"]
    lines += ["", f"[packages.tool.{tool}]", f"top-level = {value(package.top_level)}"]
    if provenance is not None:
        lines += ["", f"[packages.tool.{tool}.provenance]"]
        lines += [f"{key} = {value(item)}" for key, item in provenance.items()]
    return "\n".join(lines) + "\n"


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
