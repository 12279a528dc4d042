"""``tasks``/``call``/``watch`` with ``--json`` in real processes: stdout carries JSON only,
whatever plugins print while they import, and every task and every import failure is listed,
in regular packages and in PEP 420 namespace folders alike."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import textwrap
import threading
from collections.abc import Iterable
from pathlib import Path

COMMAND = str(Path(sys.executable).with_name("dioptra-plugins"))

# Prints at import in every way a plugin can: print(), a logging handler on sys.stdout, a raw
# write to file descriptor 1 and a child process inheriting it.
NOISY = '''
import logging
import os
import subprocess
import sys

from dioptra_plugins import pyplugs

print("banner from print")
handler = logging.StreamHandler(sys.stdout)
logging.getLogger("noisy").addHandler(handler)
logging.getLogger("noisy").warning("banner from logging")
os.write(1, b"banner from fd 1\\n")
subprocess.run([sys.executable, "-c", "print('banner from a child')"], check=True)


@pyplugs.register
def scale(values: list, factor: float = 2.0) -> list:
    """Multiply every value."""
    print("scale prints while it runs")
    return [v * factor for v in values]
'''

TASK = """
from dioptra_plugins import pyplugs


@pyplugs.register
def {name}():
    return "{name}"
"""


def _env() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if k != "DIOPTRA_PLUGIN_DIR"}


def _write(root: Path, files: dict[str, str]) -> None:
    for relative, text in files.items():
        path = root / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text))


def _plugin_dir(tmp_path: Path) -> Path:
    root = tmp_path / "plugins"
    _write(
        root,
        {
            # a regular package, noisy, with a broken module and a broken subpackage
            "clipkg/__init__.py": "",
            "clipkg/ops.py": NOISY,
            "clipkg/syntax.py": "def f(:\n",
            "clipkg/badsub/__init__.py": "raise RuntimeError('subpackage init fails')\n",
            "clipkg/badsub/never.py": TASK.format(name="never"),
            # a namespace package (no __init__.py anywhere), as Dioptra's task-plugins
            "clins/good.py": TASK.format(name="good"),
            "clins/sub/deep.py": TASK.format(name="deep"),
            "clins/sub/missing.py": "import no_such_module_cli_zz\n",
            "clins/raises.py": "raise ValueError('module body fails')\n",
            # a package whose own __init__ is broken
            "clibroken/__init__.py": "import also_missing_cli_zz\n",
            "clibroken/fine.py": TASK.format(name="fine"),
        },
    )
    return root


def test_tasks_json_lists_every_task_and_every_failure(tmp_path: Path) -> None:
    root = _plugin_dir(tmp_path)
    result = subprocess.run(
        [COMMAND, "tasks", "--json", "--plugin-dir", str(root)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert result.returncode == 1, result.stderr
    document = json.loads(result.stdout)  # nothing but the document on stdout
    tasks = sorted(f"{t['module']}.{t['function']}" for t in document["tasks"])
    assert tasks == ["clins.good.good", "clins.sub.deep.deep", "clipkg.ops.scale"]
    errors = {e["module"]: e for e in document["errors"]}
    assert sorted(errors) == [
        "clibroken",
        "clins.raises",
        "clins.sub.missing",
        "clipkg.badsub",
        "clipkg.syntax",
    ]
    assert errors["clipkg.syntax"]["line"] == 1
    assert errors["clins.sub.missing"]["file"] == str(root / "clins/sub/missing.py")
    assert "module body fails" in errors["clins.raises"]["message"]
    for banner in ("print", "logging", "fd 1", "a child"):
        assert f"banner from {banner}" in result.stderr


def test_tasks_table_names_the_namespace_tasks_too(tmp_path: Path) -> None:
    root = _plugin_dir(tmp_path)
    result = subprocess.run(
        [COMMAND, "tasks", "--plugin-dir", str(root)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert result.returncode == 1
    assert "clins.sub.deep.deep()" in result.stdout
    assert result.stderr.count("error: ") == 5


def test_call_prints_only_the_result_on_stdout(tmp_path: Path) -> None:
    root = _plugin_dir(tmp_path)
    arguments = ["call", "clipkg", "ops", "scale", "-a", "values=[1, 2]"]
    result = subprocess.run(
        [COMMAND, *arguments, "--plugin-dir", str(root)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [2, 4]
    assert "scale prints while it runs" in result.stderr
    assert "banner from fd 1" in result.stderr


def _lines(stream: Iterable[str], into: queue.Queue[str]) -> None:
    for line in stream:
        into.put(line)


def _next(lines: queue.Queue[str], contains: str = "", timeout: float = 20) -> str:
    while True:
        line = lines.get(timeout=timeout)
        if contains in line:
            return line


def test_watch_json_keeps_plugin_output_off_stdout(tmp_path: Path) -> None:
    root = _plugin_dir(tmp_path)
    module = root / "clipkg" / "ops.py"
    process = subprocess.Popen(
        [COMMAND, "watch", str(root), "--json"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=_env(),
    )
    out: queue.Queue[str] = queue.Queue()
    err: queue.Queue[str] = queue.Queue()
    readers = [
        threading.Thread(target=_lines, args=(stream, target), daemon=True)
        for stream, target in ((process.stdout, out), (process.stderr, err))
    ]
    for reader in readers:
        reader.start()
    seen: list[str] = []
    try:
        _next(err, "watching")
        # The start-up failures come first, one JSON event each.
        first = [json.loads(out.get(timeout=20)) for _ in range(5)]
        assert sorted(e["module"] for e in first) == [
            "clibroken",
            "clins.raises",
            "clins.sub.missing",
            "clipkg.badsub",
            "clipkg.syntax",
        ]
        module.write_text(textwrap.dedent(NOISY).replace("Multiply", "Scale"))
        event = json.loads(_next(out, "clipkg.ops"))
        assert event["changed"] == ["scale"]
        process.send_signal(signal.SIGTERM)
        assert process.wait(timeout=20) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        for reader in readers:
            reader.join(timeout=10)
        assert process.stdout is not None
        assert process.stderr is not None
        process.stdout.close()
        process.stderr.close()
    while not out.empty():
        seen.append(out.get())
    for line in seen:
        json.loads(line)  # every line left on stdout is an event
    stderr = "".join(err.queue)
    # What the reload printed (the first import's banners came before "watching").
    assert "banner from fd 1" in stderr
    assert "banner from print" in stderr


def test_tasks_finds_a_namespace_made_of_linked_portions(tmp_path: Path) -> None:
    """As a synced generation lays out a namespace split across bundles: one folder holding a
    symlink per portion, no Python file of its own."""
    store = tmp_path / "store"
    _write(
        store,
        {
            "fgm/clilinked/fgm_plugins/attack.py": TASK.format(name="attack"),
            "squeeze/clilinked/feature_squeezing/squeeze.py": TASK.format(name="squeeze"),
        },
    )
    root = tmp_path / "plugins"
    (root / "clilinked").mkdir(parents=True)
    (root / "clilinked" / "fgm_plugins").symlink_to(store / "fgm/clilinked/fgm_plugins")
    (root / "clilinked" / "feature_squeezing").symlink_to(
        store / "squeeze/clilinked/feature_squeezing"
    )
    result = subprocess.run(
        [COMMAND, "tasks", "--json", "--plugin-dir", str(root)],
        capture_output=True,
        text=True,
        env=_env(),
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    tasks = sorted(f"{t['module']}.{t['function']}" for t in json.loads(result.stdout)["tasks"])
    assert tasks == [
        "clilinked.feature_squeezing.squeeze.squeeze",
        "clilinked.fgm_plugins.attack.attack",
    ]


def test_watch_json_with_nothing_to_watch_prints_a_json_error(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "DIOPTRA_PLUGIN_DIR"}
    done = subprocess.run(
        [COMMAND, "watch", "--json"], capture_output=True, text=True, env=env, cwd=tmp_path
    )
    assert done.returncode == 1
    document = json.loads(done.stdout)
    assert document["kind"] == "PluginDirError"
    assert "$DIOPTRA_PLUGIN_DIR" in document["error"]
