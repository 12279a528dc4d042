"""SIGINT and SIGTERM: a command ends with one true line, and never in the middle of a switch.

The command line installs :func:`install` first thing (before click or the library is
imported: a Ctrl-C in the first milliseconds must not print a traceback).  From then on the
first SIGINT or SIGTERM raises :class:`Interrupted` in the main thread; it is a
``BaseException`` (like ``KeyboardInterrupt``), so ``except Exception`` in the library does not
swallow it and every ``finally`` and ``except BaseException`` cleanup runs.  Later signals
change nothing: the cleanup the first one started runs to its end.

:class:`deferred` marks a critical section (a plugin dir's switch and its bookkeeping): a
signal that arrives inside it is held, and delivered to whatever handler was in place when the
section ends (ours, Python's ``KeyboardInterrupt`` for a library caller, or the default action
of SIGTERM).  So a switch is either not begun or complete, state included, when the signal acts.

Writers note what they did (:func:`note_plugin_dir`, :func:`note_switch`), so the last line
says what is true: the plugin dir unchanged, or the switch to generation N done.

This module is on the start-up path: it imports ``_signal`` (the C module; ``signal`` would add
``enum``, about 5 ms before the handlers are in place) and ``sys``, nothing else.
"""

from __future__ import annotations

import _signal as signal  # type: ignore[import-not-found]
import sys

TYPE_CHECKING = False  # not typing's: importing typing costs ~8 ms; mypy reads the block
if TYPE_CHECKING:
    from types import FrameType, TracebackType

INTERRUPTING: tuple[int, int] = (signal.SIGINT, signal.SIGTERM)
_NAMES = {signal.SIGINT: "SIGINT", signal.SIGTERM: "SIGTERM"}


class Interrupted(BaseException):
    """SIGINT or SIGTERM arrived; ``signum`` says which, ``exit_code`` is 128 + signum."""

    def __init__(self, signum: int) -> None:
        self.signum = signum
        self.exit_code = 128 + signum
        super().__init__(_NAMES.get(signum, f"signal {signum}"))


_installed = False
_raised = False

# What the command did so far, for the last line.
_command_started = False
_plugin_dir: str | None = None
_generation_before: str | None = None
_switched_to: str | None = None


def _interrupt(signum: int, _frame: FrameType | None) -> None:
    global _raised
    if _raised:
        return  # one Interrupted per process: the cleanup it started must not be cut short
    _raised = True
    raise Interrupted(signum)


def install() -> None:
    """Raise :class:`Interrupted` on the first SIGINT or SIGTERM (main thread only)."""
    global _installed
    for number in INTERRUPTING:
        signal.signal(number, _interrupt)
    _installed = True


def ignore() -> None:
    """The command is over (its exit code decided): later signals change nothing."""
    for number in INTERRUPTING:
        signal.signal(number, signal.SIG_IGN)


def interrupted() -> bool:
    """True once a signal has raised :class:`Interrupted` (worker threads may poll it)."""
    return _raised


# --- critical sections ---------------------------------------------------------------------------

_depth = 0
_pending: list[int] = []
_saved: dict[int, object] = {}


def _hold(signum: int, _frame: FrameType | None) -> None:
    if signum not in _pending:
        _pending.append(signum)


def _in_main_thread() -> bool:
    import threading

    return threading.current_thread() is threading.main_thread()


class deferred:  # lower case: used like a function, ``with deferred():``
    """A critical section: SIGINT and SIGTERM wait until it ends, then act as they would have.

    Nestable.  Outside the main thread (where no Python signal handler runs anyway) it does
    nothing.  A signal held here is raised again with ``signal.raise_signal`` once the previous
    handlers are back, so a library caller's ``KeyboardInterrupt``, our :class:`Interrupted` or
    the default action of SIGTERM happens right after the section.
    """

    def __init__(self) -> None:
        self._active = False

    def __enter__(self) -> deferred:
        global _depth
        if not _in_main_thread():
            return self
        self._active = True
        if _depth == 0:
            _pending.clear()
            try:
                for number in INTERRUPTING:
                    previous = signal.getsignal(number)
                    if previous is None:  # installed outside Python: cannot be put back
                        continue
                    signal.signal(number, _hold)
                    _saved[number] = previous
            except BaseException:  # the other signal arrived between the two: undo, let it act
                _restore()
                raise
        _depth += 1
        return self

    def __exit__(
        self,
        kind: type[BaseException] | None,
        error: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        global _depth
        if not self._active:
            return
        _depth -= 1
        if _depth:
            return
        _restore()
        held, _pending[:] = list(_pending), []
        for number in held:
            signal.raise_signal(number)


def _restore() -> None:
    for number, previous in list(_saved.items()):
        signal.signal(number, previous)
        del _saved[number]


# --- the last line -------------------------------------------------------------------------------


def note_command_started() -> None:
    """The command's own code runs from now on (before, nothing can have changed)."""
    global _command_started
    _command_started = True


def note_plugin_dir(root: str, generation: str | None) -> None:
    """A sync of ``root`` begins; ``generation`` is current (None: not synced yet)."""
    global _plugin_dir, _generation_before, _switched_to
    _plugin_dir, _generation_before, _switched_to = root, generation, None


def note_switch(root: str, generation: str) -> None:
    """``root``'s ``current`` now names ``generation`` (the rename is done)."""
    global _plugin_dir, _switched_to
    if _plugin_dir != root:
        note_plugin_dir(root, None)
    _plugin_dir, _switched_to = root, generation


def last_line() -> str:
    """What an interrupted command prints last: only what is known to be true."""
    if _switched_to is not None:
        return f"interrupted after switching to generation {_switched_to}"
    if _plugin_dir is not None:
        still = (
            f"still generation {_generation_before}"
            if _generation_before is not None
            else "no generation yet"
        )
        return f"interrupted: nothing changed ({still})"
    if not _command_started:
        return "interrupted: nothing changed"
    return "interrupted"


def report(interrupted: Interrupted) -> int:
    """Print the last line on stderr; return the exit code (130 for SIGINT, 143 for SIGTERM)."""
    try:
        sys.stderr.write(last_line() + "\n")
        sys.stderr.flush()
    except (OSError, ValueError):  # stderr closed or gone: the exit code still tells
        pass
    return interrupted.exit_code
