"""The ``dioptra-plugins`` console script: signal handlers first, then the command line.

Installing the handlers is the first thing the process does after the interpreter starts
(this module and :mod:`dioptra_plugins.signals` import nothing heavy): a SIGINT or SIGTERM at
any instant after that ends the command with exit code 130 or 143 and one line on stderr that
says what is true (:func:`dioptra_plugins.signals.last_line`), never a traceback.

Once the command is over, the process ends without tearing the interpreter down
(:func:`exit_now`).
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
        exit_now(signals.report(interrupted))
    except SystemExit as done:
        exit_now(done.code)


def _run() -> None:
    try:
        from dioptra_plugins.cli.main import main as command

        command(prog_name="dioptra-plugins")
    except SystemExit:
        # The command is over and its exit code decided; a signal now changes nothing.
        signals.ignore()
        raise


def exit_now(code: str | int | None) -> None:
    """End the process with ``code`` (as ``sys.exit`` reads it) once the command is over.

    The exit handlers run (logging's flush, temporary directories' clean-up, ...) and stdout
    and stderr are flushed, as at any exit; what is skipped is the interpreter's teardown,
    freeing every module and object one by one, which nothing of a finished command needs:
    after a sync from S3 (botocore loaded) it took about 80 ms, a quarter of a no-op sync (345
    against 265 ms, 11 interleaved runs).  Every file the commands write is closed (or never
    buffered) before they return.  While a thread that is not a daemon still runs, the process
    exits as always (the interpreter waits for it).
    """
    import atexit
    import contextlib
    import os
    import threading

    working = [
        thread
        for thread in threading.enumerate()
        if thread is not threading.main_thread() and not thread.daemon and thread.is_alive()
    ]
    if working:
        sys.exit(code)  # the interpreter waits for them, as it always did
    if code is None:
        status = 0
    elif isinstance(code, int):
        status = code
    else:  # a message, as sys.exit prints it
        print(code, file=sys.stderr)
        status = 1
    atexit._run_exitfuncs()
    for stream in (sys.stdout, sys.stderr):
        # A closed pipe or stream: nothing more can be said.
        with contextlib.suppress(OSError, ValueError):
            stream.flush()
    os._exit(status & 0xFF)
