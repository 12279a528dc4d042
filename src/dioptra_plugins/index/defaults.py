"""The index a library call uses when the caller names none: ``$DIOPTRA_PLUGINS_INDEX``.

The one place that reads the variable for the library (the command line's ``--index`` option
reads it through click, with the same name), and the one wording of the error when neither is
given: it names the parameter and the variable.
"""

from __future__ import annotations

import os

from dioptra_plugins.errors import UsageError
from dioptra_plugins.index.url import INDEX_VARIABLE


def default_index(index: str | os.PathLike[str] | None) -> str | None:
    """``index`` (a URL or path) if given and not empty, else ``$DIOPTRA_PLUGINS_INDEX``, else
    None."""
    chosen = os.fspath(index) if index is not None else ""
    return chosen or os.environ.get(INDEX_VARIABLE) or None


def required_index(
    index: str | os.PathLike[str] | None, *, needed_for: str = "", hint: str = ""
) -> str:
    """:func:`default_index`, or a :class:`UsageError` naming the parameter and the variable.

    ``needed_for`` says what wanted it (``"syncing the plugins of requirements.txt"``), ``hint``
    what else the caller can do (appended after a semicolon).
    """
    chosen = default_index(index)
    if chosen is None:
        what = f"{needed_for} needs an index" if needed_for else "no index"
        more = f"; {hint}" if hint else ""
        raise UsageError(
            f"{what}: pass `index` or set ${INDEX_VARIABLE}{more}", parameters=("index",)
        )
    return chosen
