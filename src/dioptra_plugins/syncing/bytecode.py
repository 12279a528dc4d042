"""Bytecode in the store: compiled once at install, recorded, and checked like the sources.

Python's default is to write ``__pycache__/*.pyc`` beside every module it imports.  Left to the
interpreter, that would write into ``store/<sha256>`` (which ``verify`` must then either flag as
unknown files or blindly accept: and a planted ``.pyc`` beside a verified source is code that
runs unchecked).  So the store entry is complete *with* its bytecode before it is renamed into
place:

- every ``.py`` file of the bundle is compiled into the staging directory as a **checked-hash**
  pyc (PEP 552) for the running interpreter; the import system then finds a valid pyc, checks
  it against the source's hash, and never writes.  Unlike timestamp pycs, checked-hash pycs
  stay valid when the store is copied with new mtimes (a sidecar copying a synced dir to a
  read-only volume), and a changed source is never run from a stale pyc;
- each pyc's sha256 goes into the entry's bytecode manifest (``.bytecode.json``, beside the
  package, not importable), which ``verify`` checks: a pyc that is not in the manifest, or
  whose bytes changed, is reported.

Only plain (non ``-O``) bytecode is compiled for the interpreter running the sync.  Another
interpreter version importing from the dir writes its own ``*.cpython-3XX.pyc``, which
``verify`` reports as bytecode it did not write; run such interpreters with
``PYTHONDONTWRITEBYTECODE=1`` (or sync from that interpreter).  Compiling never executes plugin
code; a module that does not compile gets no pyc (importing it fails anyway).
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.util
import json
import logging
import marshal
import os
import queue
import subprocess
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from dioptra_plugins.plugindir.bytecode_manifest import BytecodeManifest

logger = logging.getLogger(__name__)

# PEP 552 flags: bit 0 = hash-based, bit 1 = check_source.
_CHECKED_HASH_FLAGS = (0b11).to_bytes(4, "little")


def pyc_path(source: str) -> str | None:
    """Where the running interpreter looks for the pyc of ``source`` (a relative posix path).

    None when this interpreter does not cache bytecode (``sys.implementation.cache_tag``).
    """
    tag = sys.implementation.cache_tag
    if tag is None:
        return None
    directory, _, file_name = source.rpartition("/")
    stem = file_name[: -len(".py")]
    prefix = f"{directory}/" if directory else ""
    return f"{prefix}__pycache__/{stem}.{tag}.pyc"


def _compile_sources(
    staging: str, final: str, sources: list[str], *, replace: bool = False
) -> dict[str, str]:
    """Write the checked-hash pyc of each source in ``staging``; returns pyc path -> sha256.

    ``final`` names the code objects' files (tracebacks show the store path).  With
    ``replace``, a pyc already there (left by a helper process that died) is replaced.
    Cost: one read, one compile and one write per source file, all holding the GIL.
    """
    files: dict[str, str] = {}
    made: set[str] = set()
    for source in sources:
        target = pyc_path(source)
        if target is None:
            break
        with open(f"{staging}/{source}", "rb") as stream:
            data = stream.read()
        try:
            code = compile(data, f"{final}/{source}", "exec", dont_inherit=True, optimize=0)
        except (SyntaxError, ValueError) as error:
            logger.debug("no bytecode for %s: %s", source, error)
            continue
        pyc = (
            importlib.util.MAGIC_NUMBER
            + _CHECKED_HASH_FLAGS
            + importlib.util.source_hash(data)
            + marshal.dumps(code)
        )
        path = f"{staging}/{target}"
        directory = path.rpartition("/")[0]
        if directory not in made:
            os.makedirs(directory, exist_ok=True)
            made.add(directory)
        if replace:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(path)
        descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
        try:
            view = memoryview(pyc)
            while view:
                view = view[os.write(descriptor, view) :]
        finally:
            os.close(descriptor)
        # hashlib, not dioptra_plugins.hashing: the helper runs this file under -I -S.
        files[target] = hashlib.sha256(pyc).hexdigest()
    return files


def _write_manifest(staging: Path, files: dict[str, str]) -> BytecodeManifest:
    # Imported here, not at the top: the helper runs this file as a script under ``-I -S``,
    # where dioptra_plugins is not importable (and needs only the standard library).
    from dioptra_plugins.plugindir.bytecode_manifest import MANIFEST_NAME, BytecodeManifest

    manifest = BytecodeManifest(cache_tag=sys.implementation.cache_tag, files=files)
    descriptor = os.open(staging / MANIFEST_NAME, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o444)
    with os.fdopen(descriptor, "wb") as stream:
        stream.write(manifest.to_bytes())
    return manifest


def compile_entry(staging: Path, final: Path, sources: list[str]) -> BytecodeManifest:
    """Compile ``sources`` (relative ``.py`` paths in ``staging``) to checked-hash pycs, here.

    ``final`` is where ``staging`` will be renamed to; it names the code objects' files so that
    tracebacks show the store path.  Writes the manifest into ``staging`` and returns it.
    Cost: one read, one compile and one write per source file.
    """
    return _write_manifest(staging, _compile_sources(str(staging), str(final), sources))


class _HelperGone(Exception):
    """A helper process died or answered nonsense; its request is redone in-process."""


class _Helper:
    """One helper process: this very file run as a script by the same interpreter.

    ``-I -S``: isolated and without site-packages (it needs only the standard library, so no
    environment variable or path can change what it imports).  It reads one JSON request a
    line from stdin and answers one line on stdout; it exits at EOF, so it ends with the sync
    (and, on Linux, is killed with it: PR_SET_PDEATHSIG).

    It runs in a session of its own, so a terminal's Ctrl-C (SIGINT to the whole foreground
    process group) or a ``kill -TERM -PGID`` reaches only the sync, which then stops and closes
    the helper's stdin: a helper killed by the group's signal would have broken its pipe and
    sent its work back to the sync, with a warning, while the sync was stopping.
    """

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-I", "-S", __file__, "--serve"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.DEVNULL,
            start_new_session=True,
        )

    def compile(self, staging: Path, final: Path, sources: list[str]) -> dict[str, str]:
        request = {"staging": str(staging), "final": str(final), "sources": sources}
        stdin, stdout = self.process.stdin, self.process.stdout
        assert stdin is not None
        assert stdout is not None
        try:
            stdin.write(json.dumps(request).encode() + b"\n")
            stdin.flush()
            answer = json.loads(stdout.readline())
        except (OSError, ValueError) as error:
            raise _HelperGone(str(error)) from error
        files = answer.get("files") if isinstance(answer, dict) else None
        if not isinstance(files, dict):
            raise _HelperGone(f"unexpected answer {answer!r}")
        return {str(k): str(v) for k, v in files.items()}

    def kill(self) -> None:
        self.process.kill()
        self.close()

    def close(self) -> None:
        """Let the helper go: it exits at EOF; a daemon thread reaps it (nobody waits)."""
        for pipe in (self.process.stdin, self.process.stdout):
            with contextlib.suppress(OSError):  # a dead helper's stdin cannot be flushed
                if pipe is not None:
                    pipe.close()
        if self.process.returncode is None:
            threading.Thread(target=self.process.wait, daemon=True).start()

    @property
    def pid(self) -> int:
        return self.process.pid


class BytecodeCompiler:
    """Compiles store entries, spread over helper processes when there is enough work.

    ``compile()`` holds the GIL, so compiling in threads would not use a second core; helper
    processes do, with a start-up cost of about 15 ms each (a bare interpreter), paid only when
    ``processes`` > 0.  Thread-safe: each call takes an idle helper (or waits for one).  A
    helper that fails has its request redone in this process, and is not used again; the pycs
    are the same either way (same interpreter, same flags).
    """

    def __init__(self, processes: int = 0) -> None:
        # One token per helper; None is a helper's turn after it failed: compile here.
        self._turns: queue.SimpleQueue[_Helper | None] = queue.SimpleQueue()
        self._helpers: list[_Helper] = []
        if processes > 0 and os.path.isfile(__file__):
            try:
                for _ in range(processes):
                    try:
                        helper = _Helper()
                    except OSError as error:
                        logger.debug("no bytecode helper process: %s", error)
                        break
                    self._helpers.append(helper)
                    self._turns.put(helper)
            except BaseException:  # interrupted between two starts: let the started ones go
                self.close()
                raise

    def compile_entry(self, staging: Path, final: Path, sources: list[str]) -> BytecodeManifest:
        """As :func:`compile_entry`, in a helper process when one is running."""
        if not self._helpers or not sources:
            return compile_entry(staging, final, sources)
        helper = self._turns.get()
        try:
            if helper is None:
                files = _compile_sources(str(staging), str(final), sources)
            else:
                try:
                    files = helper.compile(staging, final, sources)
                except _HelperGone as error:
                    if _stopping():
                        raise  # the sync is being interrupted: nothing to redo, nothing to say
                    logger.warning("bytecode helper process failed (%s); compiling here", error)
                    helper.kill()
                    helper = None
                    files = _compile_sources(str(staging), str(final), sources, replace=True)
        finally:
            self._turns.put(helper)
        return _write_manifest(staging, files)

    @property
    def helper_pids(self) -> list[int]:
        """The helper processes' pids (for tests and logs)."""
        return [helper.pid for helper in self._helpers]

    def close(self) -> None:
        helpers, self._helpers = self._helpers, []
        for helper in helpers:
            helper.close()

    def __enter__(self) -> BytecodeCompiler:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()


def _stopping() -> bool:
    """True once the command was interrupted (a signal), when nothing should start again."""
    from dioptra_plugins.signals import interrupted

    return interrupted()


def _die_with_parent() -> None:
    """Linux: be killed when the sync that started this helper dies (a SIGKILLed sync)."""
    if not sys.platform.startswith("linux"):
        return
    with contextlib.suppress(OSError, AttributeError):
        import ctypes
        import signal

        pr_set_pdeathsig = 1
        ctypes.CDLL(None, use_errno=True).prctl(pr_set_pdeathsig, int(signal.SIGKILL))


def _serve() -> None:
    """The helper process: compile requests from stdin until EOF."""
    _die_with_parent()
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    for line in stdin:
        request = json.loads(line)
        try:
            files = _compile_sources(request["staging"], request["final"], request["sources"])
            answer: dict[str, object] = {"files": files}
        except OSError as error:
            answer = {"error": str(error)}
        stdout.write(json.dumps(answer).encode() + b"\n")
        stdout.flush()


if __name__ == "__main__" and sys.argv[1:] == ["--serve"]:
    _serve()
