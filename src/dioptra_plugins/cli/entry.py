"""The ``dioptra-plugins`` console script: signal handlers first, then the command line.

Installing the handlers is the first thing the process does after the interpreter starts
(this module and :mod:`dioptra_plugins.signals` import nothing heavy): a SIGINT or SIGTERM at
any instant after that ends the command with exit code 130 or 143 and one line on stderr that
says what is true (:func:`dioptra_plugins.signals.last_line`), never a traceback.
"""

from __future__ import annotations

import sys

from dioptra_plugins import signals


def main() -> None:
    """Run the command line (``dioptra_plugins.cli.main.main``) under the signal handlers."""
    signals.install()
    try:
        _run()
    except signals.Interrupted as interrupted:
        # Also a signal landing in _run's own except clause: everything inside this try.
        signals.ignore()
        sys.exit(signals.report(interrupted))


def _run() -> None:
    try:
        from dioptra_plugins.cli.main import main as command

        command(prog_name="dioptra-plugins")
    except SystemExit:
        # The command is over and its exit code decided; a signal now changes nothing.
        signals.ignore()
        raise
