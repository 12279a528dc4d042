"""Rendering an entry point's command template into one shell command line.

Placeholders are MLflow's: ``{name}`` is replaced by the value of parameter ``name`` and
``{{``/``}}`` are literal braces.  Every value is quoted with :func:`shlex.quote` before it is
inserted, so a value with spaces, quotes, ``;``, ``$(...)``, backticks or newlines arrives in
the program's argv as exactly one argument and the shell runs nothing from it.  Undeclared
parameters are appended as ``--name value``, quoted the same way.
"""

from __future__ import annotations

import shlex
import string
from collections.abc import Mapping

from dioptra_plugins.errors import MLprojectError


def render_command(
    template: str,
    declared: Mapping[str, str],
    extra: Mapping[str, str] | None = None,
    *,
    where: str = "command",
) -> str:
    """The shell command line for ``template`` with every value quoted (see module doc)."""
    pieces: list[str] = []
    try:
        parsed = list(string.Formatter().parse(template))
    except ValueError as error:
        raise MLprojectError(f"{where}: bad placeholder in {template!r}: {error}") from None
    for literal, field, spec, conversion in parsed:
        pieces.append(literal)
        if field is None:
            continue
        if spec or conversion:
            raise MLprojectError(
                f"{where}: placeholder {{{field}}} has a format spec or conversion; "
                "use plain {name} placeholders"
            )
        if field not in declared:
            known = ", ".join(sorted(declared)) or "none"
            raise MLprojectError(
                f"{where}: placeholder {{{field}}} is not a declared parameter (declared: "
                f"{known}); write {{{{ and }}}} for literal braces"
            )
        pieces.append(shlex.quote(declared[field]))
    for name, value in (extra or {}).items():
        pieces.append(f" {shlex.quote('--' + name)} {shlex.quote(value)}")
    return "".join(pieces)
