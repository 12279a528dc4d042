"""Bytecode compiled in helper processes: the same pycs as in-process, failures survived, and no
helper outlives a killed sync.

The helpers are real interpreters (``sys.executable -I -S bytecode.py --serve``); the only thing
faked is a helper's death, by killing its real process.
"""

from __future__ import annotations

import importlib.util
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest
from synchelpers import build, installed, publish_wheels

from dioptra_plugins import sync
from dioptra_plugins.plugindir.verify_dir import verify
from dioptra_plugins.syncing.bytecode import BytecodeCompiler, compile_entry, pyc_path

pytestmark = pytest.mark.timeout(60)

SOURCES = {
    "pkg/__init__.py": b"VALUE = 1\n",
    "pkg/tasks.py": b"def double(x):\n    return 2 * x\n",
    "pkg/sub/deep.py": b"NAMES = ['a', 'b']\n",
    "pkg/broken.py": b"def nope(:\n",  # does not compile: no pyc, as in-process
}


def staged(root: Path) -> Path:
    for name, data in SOURCES.items():
        (root / name).parent.mkdir(parents=True, exist_ok=True)
        (root / name).write_bytes(data)
    return root


def pycs(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*.pyc"))}


def process_state(pid: int) -> tuple[str, int] | None:
    """(state letter, parent pid) of a process, or None once it is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
    except OSError:  # gone, even between two reads of /proc
        return None
    return fields[0], int(fields[1])


def alive(pid: int) -> bool:
    # A zombie is dead too: it only waits to be reaped.
    state = process_state(pid)
    return state is not None and state[0] != "Z"


def test_helpers_write_the_same_pycs_as_this_process(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    here = staged(tmp_path / "here")
    there = staged(tmp_path / "there")
    sources = sorted(SOURCES)
    expected = compile_entry(here, tmp_path / "final", sources)
    with BytecodeCompiler(processes=2) as compiler:
        assert len(compiler.helper_pids) == 2
        got = compiler.compile_entry(there, tmp_path / "final", sources)
    assert sorted(got.files) == sorted(expected.files)
    assert pyc_path("pkg/broken.py") not in got.files
    for name, data in pycs(there).items():
        header = data[:16]
        assert header[:4] == importlib.util.MAGIC_NUMBER
        assert header[4:8] == (0b11).to_bytes(4, "little")  # checked-hash, as in-process
        assert header == pycs(here)[name][:16]
    assert (there / ".bytecode.json").read_bytes() == got.to_bytes()
    # The helpers did the work: a helper that cannot start (say, an import the file needs
    # under -I -S) falls back to compiling here with the same result and only this warning.
    assert "bytecode helper process failed" not in caplog.text


def test_the_pycs_of_a_helper_are_used_by_the_import_system(tmp_path: Path) -> None:
    there = staged(tmp_path / "there")
    with BytecodeCompiler(processes=1) as compiler:
        compiler.compile_entry(there, there, sorted(SOURCES))
    before = pycs(there)
    done = subprocess.run(
        [sys.executable, "-c", "import pkg.tasks, pkg.sub.deep; print(pkg.tasks.double(21))"],
        cwd=there,
        capture_output=True,
        text=True,
        check=True,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": ""},
    )
    assert done.stdout == "42\n"
    assert pycs(there) == before  # valid pycs: nothing rewritten, nothing added


def test_a_dead_helper_is_replaced_by_compiling_here(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    there = staged(tmp_path / "there")
    here = staged(tmp_path / "here")
    expected = compile_entry(here, tmp_path / "final", sorted(SOURCES))
    with BytecodeCompiler(processes=1) as compiler:
        (pid,) = compiler.helper_pids
        os.kill(pid, signal.SIGKILL)
        got = compiler.compile_entry(there, tmp_path / "final", sorted(SOURCES))
        # Later calls keep working, in this process.
        again = compiler.compile_entry(staged(tmp_path / "again"), tmp_path / "f", ["pkg/tasks.py"])
    assert sorted(got.files) == sorted(expected.files)
    assert list(again.files) == [pyc_path("pkg/tasks.py")]
    assert "bytecode helper process failed" in caplog.text


def test_helpers_end_with_the_compiler(tmp_path: Path) -> None:
    compiler = BytecodeCompiler(processes=2)
    pids = compiler.helper_pids
    compiler.close()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(alive(pid) for pid in pids)


def test_no_helper_outlives_a_killed_sync(tmp_path: Path) -> None:
    """SIGKILL of the syncing process (no cleanup runs) takes its helpers with it."""
    script = textwrap.dedent(
        """
        import sys, time
        from dioptra_plugins.syncing.bytecode import BytecodeCompiler
        compiler = BytecodeCompiler(processes=2)
        print(*compiler.helper_pids, flush=True)
        time.sleep(60)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert parent.stdout is not None
        pids = [int(p) for p in parent.stdout.readline().split()]
        assert len(pids) == 2
        assert all(alive(pid) for pid in pids)
    finally:
        parent.kill()
        parent.wait()
        if parent.stdout is not None:
            parent.stdout.close()
    deadline = time.monotonic() + 10
    while any(alive(pid) for pid in pids) and time.monotonic() < deadline:
        time.sleep(0.02)
    assert not any(alive(pid) for pid in pids)


HELPER_TAG = "DIOPTRA_TEST_HELPER_TAG"


def helper_processes(parent: int | None = None, tag: str | None = None) -> list[int]:
    """Pids of running bytecode helpers (of ``parent`` only, or carrying ``HELPER_TAG=tag`` in
    their environment, when given: other test runs on the machine have helpers of their own)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as stream:
                command = stream.read().split(b"\0")
        except OSError:
            continue
        if b"--serve" not in command or not any(p.endswith(b"bytecode.py") for p in command):
            continue
        state = process_state(int(entry))
        if tag is not None:
            try:
                with open(f"/proc/{entry}/environ", "rb") as stream:
                    environ = stream.read().split(b"\0")
            except OSError:
                continue
            if f"{HELPER_TAG}={tag}".encode() not in environ:
                continue
        if state is not None and state[0] != "Z" and parent in (None, state[1]):
            found.append(int(entry))
    return found


@pytest.mark.timeout(240)
def test_syncs_killed_while_helpers_compile_leave_a_usable_dir(tmp_path: Path) -> None:
    """Six bundles: enough for helper processes.  Killed at random instants, a sync leaves the
    old set or the new one, verifiable, and no helper behind; the next sync completes."""
    index = str(tmp_path / "index")
    names = [f"heavy{i}" for i in range(6)]
    publish_wheels(index, [build(tmp_path, n, "1.0.0", modules=40) for n in names])
    rng = random.Random(7)
    killed_mid_way = killed_with_helpers = 0
    for trial in range(12):
        plugin_dir = tmp_path / f"plugins{trial}"
        script = (
            "import sys\nfrom dioptra_plugins import sync\n"
            f"sync({names!r}, index={index!r}, plugin_dir={str(plugin_dir)!r})\n"
        )
        # The tag finds this worker's helpers after the kill has made them orphans.
        tag = f"{plugin_dir}"
        worker = subprocess.Popen(
            [sys.executable, "-c", script], env={**os.environ, HELPER_TAG: tag}
        )
        if trial % 2:
            time.sleep(rng.uniform(0.2, 1.2))  # any instant
        else:
            # An instant while this worker's helpers compile (they start within a second or
            # two; the deadline only guards against waiting forever on a busy machine).
            deadline = time.monotonic() + 60
            while not helper_processes(worker.pid) and time.monotonic() < deadline:
                time.sleep(0.005)
            time.sleep(rng.uniform(0, 0.1))
        if worker.poll() is None:
            killed_mid_way += 1
            killed_with_helpers += bool(helper_processes(worker.pid))
            os.kill(worker.pid, signal.SIGKILL)
        worker.wait()
        deadline = time.monotonic() + 10
        while helper_processes(tag=tag) and time.monotonic() < deadline:
            time.sleep(0.05)
        assert helper_processes(tag=tag) == []
        if installed(plugin_dir):
            assert installed(plugin_dir) == dict.fromkeys(names, "1.0.0")
            assert verify(plugin_dir).ok
        result = sync(names, index=index, plugin_dir=plugin_dir)
        assert installed(plugin_dir) == dict.fromkeys(names, "1.0.0")
        assert verify(plugin_dir).ok, result
    assert killed_mid_way >= 3  # the instants were not all after the sync ended
    assert killed_with_helpers >= 3  # and some landed while its helpers were compiling
